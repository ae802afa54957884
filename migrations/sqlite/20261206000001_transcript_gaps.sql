-- See the PostgreSQL migration of the same version.
ALTER TABLE meetings ADD COLUMN transcript_gaps TEXT CHECK (transcript_gaps IS NULL OR json_type(transcript_gaps) = 'array');
