-- Complaints (feedback-loop reports, forwarded mail, complaint desks), the Message-IDs of
-- confirmation mail (so a complaint about one finds its consent), each sender's standing,
-- and hourly activity counts kept current as events are appended (the reputation window).

CREATE TABLE complaints (
    id              TEXT PRIMARY KEY NOT NULL,
    sender_id       TEXT NOT NULL REFERENCES senders (id),
    consent_id      TEXT,
    mail_kind       TEXT NOT NULL CHECK (mail_kind IN ('campaign', 'confirmation_mail', 'unknown')),
    feedback_type   TEXT NOT NULL,
    source          TEXT NOT NULL,
    action          TEXT NOT NULL,
    -- SHA-256 of the report as received; the report itself is not kept.
    report_sha256   TEXT NOT NULL,
    received_at     TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
-- The same report sent twice is one complaint.
CREATE UNIQUE INDEX complaints_report ON complaints (sender_id, report_sha256);

CREATE TABLE sent_mails (
    message_id  TEXT PRIMARY KEY NOT NULL,
    sender_id   TEXT NOT NULL REFERENCES senders (id),
    consent_id  TEXT NOT NULL,
    sent_at     TIMESTAMP NOT NULL
);

CREATE TABLE sender_standing (
    sender_id       TEXT PRIMARY KEY NOT NULL REFERENCES senders (id),
    standing        TEXT NOT NULL CHECK (standing IN ('probation', 'good', 'watch', 'restricted')),
    -- Index of the probation cap in force; NULL once the sender has left probation.
    probation_step  BIGINT,
    step_since      TIMESTAMP NOT NULL,
    -- The operator's last review: the assessment counts only what happened after it.
    reviewed_at     TIMESTAMP,
    set_by          TEXT NOT NULL CHECK (set_by IN ('auto', 'operator')),
    reason          TEXT,
    -- JSON array of the signals active at the last assessment.
    signals         TEXT NOT NULL DEFAULT '[]',
    updated_at      TIMESTAMP NOT NULL
);

CREATE TABLE sender_activity (
    sender_id       TEXT NOT NULL REFERENCES senders (id),
    hour            TIMESTAMP NOT NULL,
    requested       BIGINT NOT NULL DEFAULT 0,
    queued          BIGINT NOT NULL DEFAULT 0,
    mailed          BIGINT NOT NULL DEFAULT 0,
    confirmed       BIGINT NOT NULL DEFAULT 0,
    refused         BIGINT NOT NULL DEFAULT 0,
    expired         BIGINT NOT NULL DEFAULT 0,
    unsubscribed    BIGINT NOT NULL DEFAULT 0,
    complaints      BIGINT NOT NULL DEFAULT 0,
    throttled       BIGINT NOT NULL DEFAULT 0,
    sends_checked   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (sender_id, hour)
);

-- Keyed hash of the claimed end-user IP's network (/24, /48), for the one-network signal.
ALTER TABLE consents ADD COLUMN network_key TEXT;
CREATE INDEX consents_network ON consents (sender_id, requested_at) WHERE network_key IS NOT NULL;

-- Senders that exist before standing was introduced have a record: they start in good standing.
INSERT INTO sender_standing (sender_id, standing, probation_step, step_since, set_by, reason, updated_at)
SELECT id, 'good', NULL, CURRENT_TIMESTAMP, 'auto', 'existed before standing was introduced', CURRENT_TIMESTAMP FROM senders;

-- The last 31 days of each chain, counted into the hourly buckets.
INSERT INTO sender_activity (sender_id, hour, requested, queued, mailed, confirmed, refused, expired, unsubscribed, throttled, sends_checked)
SELECT sender_id, strftime('%Y-%m-%d %H:00:00', at),
       SUM(kind = 'requested'),
       SUM(kind IN ('requested', 'resend_requested') AND json_extract(data, '$.confirmation') = 'queued'),
       SUM(kind = 'confirmation_sent'),
       SUM(kind = 'confirmed'),
       SUM(kind = 'refused'),
       SUM(kind = 'expired'),
       SUM(kind = 'unsubscribed'),
       SUM(kind IN ('requested', 'resend_requested') AND json_extract(data, '$.confirmation') = 'throttled'),
       SUM(CASE WHEN kind = 'checked' THEN COALESCE(json_extract(data, '$.allowed'), 0) ELSE 0 END)
FROM events
WHERE at > datetime('now', '-31 days')
GROUP BY sender_id, strftime('%Y-%m-%d %H:00:00', at);
