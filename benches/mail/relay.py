# A loopback SMTP relay that accepts everything and appends, for each mail, the time it was
# received and its Message-ID to a log, so a benchmark can count what arrived, what arrived
# twice, and when the last one did.
# Usage: python3 relay.py PORT LOG
import smtpd, asyncore, sys, time, warnings
warnings.filterwarnings("ignore")
log = open(sys.argv[2], "a", buffering=1)
class Relay(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        message_id = "-"
        for line in data.splitlines():
            if not line.strip():
                break
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode("ascii", "replace")
        log.write(f"{time.time():.6f} {message_id}\n")
        return None
Relay(("127.0.0.1", int(sys.argv[1])), None, decode_data=False, enable_SMTPUTF8=False)
asyncore.loop()
