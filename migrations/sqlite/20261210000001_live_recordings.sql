-- See the PostgreSQL migration of the same version.
ALTER TABLE recordings ADD COLUMN live INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN record_sessions INTEGER NOT NULL DEFAULT 0;
