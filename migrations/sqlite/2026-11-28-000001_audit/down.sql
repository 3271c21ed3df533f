DROP TRIGGER checkpoints_no_delete;
DROP TRIGGER checkpoints_no_update;
DROP TRIGGER events_no_delete;
DROP TRIGGER events_no_update;
DROP INDEX consents_retention;
ALTER TABLE consents DROP COLUMN minimised_at;
ALTER TABLE event_pii DROP COLUMN salt;
