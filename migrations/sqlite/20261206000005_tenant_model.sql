-- See the PostgreSQL migration of the same version.
ALTER TABLE tenants ADD COLUMN default_model TEXT CONSTRAINT chk_tenants_default_model CHECK (default_model IS NULL
    OR (length(default_model) BETWEEN 1 AND 64 AND default_model NOT GLOB '*[^a-z0-9._-]*'
        AND substr(default_model, 1, 1) NOT IN ('.', '_', '-')));
