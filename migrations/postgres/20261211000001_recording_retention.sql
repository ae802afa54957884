-- How many days the tenant's recordings are kept (their files and rows; the meetings, transcripts
-- and minutes stay); NULL keeps them for ever. The retention job deletes older ones.
ALTER TABLE tenants ADD COLUMN recording_retention_days INTEGER
    CONSTRAINT chk_tenants_recording_retention_days CHECK (recording_retention_days BETWEEN 1 AND 3650);
