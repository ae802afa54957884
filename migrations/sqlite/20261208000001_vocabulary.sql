-- See the PostgreSQL migration of the same version.
ALTER TABLE tenants ADD COLUMN glossary TEXT NOT NULL DEFAULT '[]'
    CONSTRAINT chk_tenants_glossary CHECK (json_valid(glossary) AND json_type(glossary) = 'array');
ALTER TABLE recordings ADD COLUMN keyterms TEXT NOT NULL DEFAULT '[]'
    CONSTRAINT chk_recordings_keyterms CHECK (json_valid(keyterms) AND json_type(keyterms) = 'array');
