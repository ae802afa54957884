-- See the PostgreSQL migration of the same version.
ALTER TABLE realtime_sessions ADD COLUMN heartbeat_at TEXT;
