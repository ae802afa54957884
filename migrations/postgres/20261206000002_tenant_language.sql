-- The language a tenant's live sessions are transcribed in when a client names none (a Korean
-- team's browser page or SDK client then needs no parameters). NULL: the server's default model.
ALTER TABLE tenants ADD COLUMN default_language TEXT
    CONSTRAINT chk_tenants_default_language CHECK (default_language IS NULL OR default_language ~ '^([a-z]{2,3}|multi)$');
