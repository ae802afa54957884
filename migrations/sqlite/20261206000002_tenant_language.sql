-- See the PostgreSQL migration of the same version.
ALTER TABLE tenants ADD COLUMN default_language TEXT CONSTRAINT chk_tenants_default_language CHECK (default_language IS NULL
    OR default_language = 'multi' OR (length(default_language) BETWEEN 2 AND 3 AND default_language NOT GLOB '*[^a-z]*'));
