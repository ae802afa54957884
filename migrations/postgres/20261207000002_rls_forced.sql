-- Row-level security binds every role the server works as, and the tables' owner too.
--
-- Roles are cluster-wide, so each is created only when missing (several databases, or two
-- migrations at once, may share a cluster):
--   authenticated_user  a tenant's transaction: sees and writes only the rows of
--                       `app.current_tenant_id` (policies `tenant_isolation_*`, created earlier);
--   ddalkkak_system     the cross-tenant system work: lookups before a tenant is known, job
--                       claims, the session sweeper, retention, verification. It reads every row
--                       and writes only what the policies below name (`system_*`);
--   ddalkkak_app        the login the server connects as once the schema owner has migrated: no
--                       privilege of its own (NOINHERIT), it can only SET ROLE to the two above.
-- None is a superuser, has BYPASSRLS or owns a table. The owner stays a member of the first two,
-- so a server that connects as the owner switches the same way (`store/postgres.rs`).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ddalkkak_system') THEN
        CREATE ROLE ddalkkak_system NOLOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by a migration of another database
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ddalkkak_app') THEN
        CREATE ROLE ddalkkak_app LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
-- Memberships only where missing (granting again needs more than membership on PostgreSQL 16),
-- each alone: a concurrent migration of another database may grant it first.
DO $$
BEGIN
    IF NOT pg_has_role('ddalkkak_app', 'authenticated_user', 'MEMBER') THEN
        GRANT authenticated_user TO ddalkkak_app;
    END IF;
EXCEPTION WHEN unique_violation THEN NULL;
END $$;
DO $$
BEGIN
    IF NOT pg_has_role('ddalkkak_app', 'ddalkkak_system', 'MEMBER') THEN
        GRANT ddalkkak_system TO ddalkkak_app;
    END IF;
EXCEPTION WHEN unique_violation THEN NULL;
END $$;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'ddalkkak_system', 'MEMBER') THEN
        EXECUTE format('GRANT ddalkkak_system TO %I', current_user);
    END IF;
EXCEPTION WHEN unique_violation THEN NULL;
END $$;

-- The server's login checks that the schema is current before it serves.
GRANT SELECT ON _sqlx_migrations TO ddalkkak_app;

GRANT USAGE ON SCHEMA public, quarantine TO ddalkkak_system;
GRANT SELECT ON ALL TABLES IN SCHEMA public, quarantine TO ddalkkak_system;

-- Every tenant table, and `tenants`: row-level security enabled and forced (the owner is bound
-- too), and the system role's read policy. A new table joins this list in its own migration
-- (`tests/store/postgres_rls.rs` checks every table of the schema).
DO $$
DECLARE t regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'users', 'meetings', 'tasks', 'realtime_sessions', 'integrations',
                             'api_keys', 'notifications', 'usage_stats', 'meetings_error', 'ai_error_log',
                             'integration_error_log', 'quarantine.records', 'transcript_finals', 'jobs',
                             'web_sessions', 'voiceprints', 'recordings']::regclass[]
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY system_read ON %s FOR SELECT TO ddalkkak_system USING (true)', t);
    END LOOP;
END $$;

-- What the system role writes, and nothing else: tenant data is written by tenant transactions.
-- Job claims, lease renewals and settlements (retry, release, give up); a job succeeds in its
-- tenant's transaction, with its results.
GRANT UPDATE ON jobs TO ddalkkak_system;
CREATE POLICY system_claim ON jobs FOR UPDATE TO ddalkkak_system
    USING (status IN ('QUEUED', 'RUNNING'))
    WITH CHECK (status IN ('QUEUED', 'RUNNING', 'FAILED'));
-- Retention: ended sessions (their finals go with them by cascade), error records, quarantine.
GRANT DELETE ON realtime_sessions, meetings_error, ai_error_log, integration_error_log, quarantine.records
    TO ddalkkak_system;
CREATE POLICY system_purge ON realtime_sessions FOR DELETE TO ddalkkak_system USING (status = 'ENDED');
CREATE POLICY system_purge ON meetings_error FOR DELETE TO ddalkkak_system USING (true);
CREATE POLICY system_purge ON ai_error_log FOR DELETE TO ddalkkak_system USING (true);
CREATE POLICY system_purge ON integration_error_log FOR DELETE TO ddalkkak_system USING (true);
CREATE POLICY system_purge ON quarantine.records FOR DELETE TO ddalkkak_system USING (true);
-- Quarantined data that belongs to no tenant.
GRANT INSERT ON quarantine.records TO ddalkkak_system;
CREATE POLICY system_quarantine ON quarantine.records FOR INSERT TO ddalkkak_system WITH CHECK (tenant_id IS NULL);
