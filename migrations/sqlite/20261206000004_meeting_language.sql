-- See the PostgreSQL migration of the same version.
ALTER TABLE meetings ADD COLUMN language TEXT CONSTRAINT chk_meetings_language CHECK (language IS NULL
    OR (length(language) BETWEEN 2 AND 3 AND language NOT GLOB '*[^a-z]*'));
