-- The compliance check's lookup by the address key's 32 bytes, as SQLite has looked it up
-- since 2026-12-05-000001_compact_address_index. The lookups went through the
-- (sender_id, address_key) index: 166 MB of text at 1,000,000 subscriptions, more than
-- PostgreSQL's default 128 MB of shared buffers, so most checks read an index page from the
-- kernel as well as the row's heap page (1.64 page reads per check, from pg_stat_database).
-- This index is 91 MB at 1,000,000 subscriptions, and a check reads 1.10 pages: checks
-- 37.3-39.3 k/s -> 39.2-40.8 k/s, batch checks 193-197 k -> 252-264 k addresses/s (two
-- instances, 2 cores, the check benchmark).
--
-- Unique, with the list: a list belongs to one sender, so (list, key) is as unique as the
-- (sender, list, key) constraint. Probed with the keys unnested in the query's subquery
-- (src/db/key_lookups.rs), a unique index is what makes PostgreSQL probe it once per key
-- while the table's statistics are stale (a bulk import not yet analysed); an index of the
-- bytes alone was planned as a scan of the whole list for every key. The plan is held by
-- src/db/lookup_plan_tests.rs.
--
-- ANALYZE, because PostgreSQL keeps statistics of an index's expression only from the next
-- ANALYZE on: until then, on a table whose columns it had analysed, it planned the lookup as
-- a scan of the whole table (measured: 64 checks/s at 1,000,000 subscriptions).
--
-- The (sender_id, address_key) index stays: it finds an address's subscriptions across a
-- sender's lists (subject access, erasure, opt-out). A plain CREATE INDEX in the migration's
-- transaction (CONCURRENTLY cannot run in one): it blocks writes to subscriptions, not
-- reads, while it builds, about a second per million rows on a 2-core machine.
CREATE UNIQUE INDEX subscriptions_list_address_bytes
    ON subscriptions (decode(address_key, 'hex'), list_id);
ANALYZE subscriptions;
