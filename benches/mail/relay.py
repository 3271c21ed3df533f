# A loopback SMTP relay that accepts everything and prints how many mails it took per second.
import smtpd, asyncore, sys, time, warnings
warnings.filterwarnings("ignore")
count = 0
first = None
class Relay(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        global count, first
        count += 1
        now = time.time()
        if first is None:
            first = now
        if count % 100 == 0:
            print(f"{count} mails, {count / max(now - first, 1e-6):.1f}/s", flush=True)
        return None
Relay(("127.0.0.1", int(sys.argv[1])), None, decode_data=False, enable_SMTPUTF8=False)
asyncore.loop()
