-- Audit records: a random salt per personal-data record (so pii_sha256 cannot be matched
-- against a guessed address once the record is erased), retention bookkeeping on consents,
-- and database-level refusal of any change to the append-only ledger tables.
-- Keep in step with ../../postgres/2026-11-28-000001_audit/up.sql.

ALTER TABLE event_pii ADD COLUMN salt TEXT;

-- Set when a consent's personal data was minimised after its retention period.
ALTER TABLE consents ADD COLUMN minimised_at TIMESTAMP;
CREATE INDEX consents_retention ON consents (sender_id, ended_at) WHERE minimised_at IS NULL;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
