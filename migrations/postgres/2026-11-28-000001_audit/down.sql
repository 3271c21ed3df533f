DROP TRIGGER checkpoints_no_truncate ON checkpoints;
DROP TRIGGER checkpoints_append_only ON checkpoints;
DROP TRIGGER events_no_truncate ON events;
DROP TRIGGER events_append_only ON events;
DROP FUNCTION consentry_append_only();
DROP INDEX consents_retention;
ALTER TABLE consents DROP COLUMN minimised_at;
ALTER TABLE event_pii DROP COLUMN salt;
