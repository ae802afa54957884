-- A live session's audio kept as its meeting's recording (`record=true`): the row is made when
-- the session starts and has no transcription job.
ALTER TABLE recordings ADD COLUMN live BOOLEAN NOT NULL DEFAULT FALSE;
-- Whether the tenant's live sessions keep their audio when the client does not say (`record`).
ALTER TABLE tenants ADD COLUMN record_sessions BOOLEAN NOT NULL DEFAULT FALSE;
