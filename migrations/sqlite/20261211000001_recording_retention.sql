-- See the PostgreSQL migration of the same version.
ALTER TABLE tenants ADD COLUMN recording_retention_days INTEGER
    CONSTRAINT chk_tenants_recording_retention_days CHECK (recording_retention_days BETWEEN 1 AND 3650);
