-- Which instance holds a job's lease, so an instance that restarts takes its own leases
-- back at once instead of waiting for them to end.
ALTER TABLE outbox ADD COLUMN locked_by TEXT;
