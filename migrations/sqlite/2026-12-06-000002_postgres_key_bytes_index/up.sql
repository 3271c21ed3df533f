-- Nothing changes on SQLite, whose check index leads with the key's bytes already
-- (2026-12-06-000001_covering_check_index). The PostgreSQL migration of the same name gives
-- PostgreSQL an index on those bytes.
SELECT 1;
