-- PostgreSQL forces row-level security and creates the server's roles in this version. SQLite
-- has neither roles nor row-level security (every query is scoped by tenant_id): nothing to do,
-- but both backends keep the same migration versions.
SELECT 1;
