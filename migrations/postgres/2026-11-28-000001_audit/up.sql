-- Audit records: a random salt per personal-data record (so pii_sha256 cannot be matched
-- against a guessed address once the record is erased), retention bookkeeping on consents,
-- and database-level refusal of any change to the append-only ledger tables.
-- Keep in step with ../../sqlite/2026-11-28-000001_audit/up.sql.

ALTER TABLE event_pii ADD COLUMN salt TEXT;

-- Set when a consent's personal data was minimised after its retention period.
ALTER TABLE consents ADD COLUMN minimised_at TIMESTAMP;
CREATE INDEX consents_retention ON consents (sender_id, ended_at) WHERE minimised_at IS NULL;

CREATE FUNCTION consentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();
