-- Meeting intelligence (issue 6); see the PostgreSQL migration of the same version.
ALTER TABLE integrations ADD COLUMN channel TEXT CHECK (channel IS NULL OR (length(channel) BETWEEN 1 AND 100 AND channel NOT GLOB '*[^A-Za-z0-9_#-]*'));
