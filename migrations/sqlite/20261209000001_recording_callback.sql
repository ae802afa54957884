-- See the PostgreSQL migration of the same version.
ALTER TABLE recordings ADD COLUMN callback_url TEXT;
ALTER TABLE recordings ADD COLUMN callback_method TEXT
    CONSTRAINT chk_recordings_callback_method CHECK (callback_method IN ('POST', 'PUT'));
