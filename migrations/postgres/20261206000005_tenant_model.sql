-- The served model (`base`, `tiny.en`, …) of a tenant's live sessions whose client names neither
-- a model nor a language. NULL: the tenant's default_language, else the server's first model.
ALTER TABLE tenants ADD COLUMN default_model TEXT
    CONSTRAINT chk_tenants_default_model CHECK (default_model IS NULL OR default_model ~ '^[a-z0-9][a-z0-9._-]{0,63}$');
