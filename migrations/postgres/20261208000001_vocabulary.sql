-- Words to expect (names, products, jargon), given to Whisper as hotwords: a tenant's glossary
-- for all its sessions and recordings, and a recording's own keyterms (Deepgram's `keyterm`).
-- JSON arrays of strings; the server caps them at 100 terms of at most 100 characters.
ALTER TABLE tenants ADD COLUMN glossary JSONB NOT NULL DEFAULT '[]'
    CONSTRAINT chk_tenants_glossary CHECK (jsonb_typeof(glossary) = 'array');
ALTER TABLE recordings ADD COLUMN keyterms JSONB NOT NULL DEFAULT '[]'
    CONSTRAINT chk_recordings_keyterms CHECK (jsonb_typeof(keyterms) = 'array');
