-- Every transcription of a meeting is a version of its transcript (`GET /v1/meetings/{id}/transcripts`):
-- a live session, the transcription of an uploaded or fetched recording, or a re-transcription of
-- the meeting's recording (`POST /v1/meetings/{id}/retranscribe`). A version's id is the id of
-- the session its finals were stored under; the row outlives that session (ended sessions and
-- their finals are purged after 7 days). The meeting's own transcript is the newest completed
-- version; when a newer one completes, the meeting's transcript (with its named speakers) is kept
-- on the row of the version it was, so an older version stays readable as it was last shown.
CREATE TYPE transcript_source_enum AS ENUM ('LIVE', 'RECORDING', 'RETRANSCRIBE');
CREATE TABLE transcript_versions (
    id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    meeting_id UUID NOT NULL,
    source transcript_source_enum NOT NULL,
    -- The served Whisper model and the language asked for (or detected), when known.
    model TEXT,
    language TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    -- When the version became the meeting's transcript; NULL while queued, running or failed.
    completed_at TIMESTAMPTZ,
    -- Set once a newer version replaced this one as the meeting's transcript.
    transcript_text TEXT,
    transcript_segments JSONB,
    speaker_labels JSONB,
    CONSTRAINT pk_transcript_versions PRIMARY KEY (id),
    CONSTRAINT fk_transcript_versions_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_transcript_versions_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT chk_transcript_versions_segments CHECK (transcript_segments IS NULL OR jsonb_typeof(transcript_segments) = 'array')
);
CREATE INDEX idx_transcript_versions_tenant ON transcript_versions (tenant_id);
CREATE INDEX idx_transcript_versions_meeting ON transcript_versions (meeting_id);

-- A meeting has one live session, and a session of its own for each transcription of its
-- recording (the first, then each re-transcription).
DROP INDEX uq_realtime_sessions_meeting;
CREATE UNIQUE INDEX uq_realtime_sessions_meeting ON realtime_sessions (meeting_id)
    WHERE meeting_id IS NOT NULL AND source = 'LIVE';

-- The meetings transcribed so far are each one completed version: of the session they were
-- assembled from while it is kept, else under the meeting's own id. Read by the owner, past the
-- forced row-level security of the tables read, for this statement only.
ALTER TABLE meetings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE realtime_sessions NO FORCE ROW LEVEL SECURITY;
INSERT INTO transcript_versions (id, tenant_id, meeting_id, source, language, created_at, completed_at)
SELECT COALESCE(s.id, m.id), m.tenant_id, m.id, COALESCE(s.source, 'LIVE')::transcript_source_enum, m.language,
       COALESCE(s.started_at, m.created_at), COALESCE(s.ended_at, m.updated_at)
FROM meetings m
LEFT JOIN realtime_sessions s ON s.tenant_id = m.tenant_id AND s.meeting_id = m.id AND s.status = 'ENDED'
WHERE m.stt_status = 'COMPLETED';
-- Sessions still running: their versions complete when they are finalized.
INSERT INTO transcript_versions (id, tenant_id, meeting_id, source, created_at)
SELECT s.id, s.tenant_id, s.meeting_id, s.source::transcript_source_enum, s.started_at
FROM realtime_sessions s WHERE s.status = 'ACTIVE' AND s.meeting_id IS NOT NULL;
ALTER TABLE meetings FORCE ROW LEVEL SECURITY;
ALTER TABLE realtime_sessions FORCE ROW LEVEL SECURITY;

ALTER TABLE transcript_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE transcript_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_transcript_versions ON transcript_versions FOR ALL TO authenticated_user
    USING (tenant_id = current_setting('app.current_tenant_id')::uuid)
    WITH CHECK (tenant_id = current_setting('app.current_tenant_id')::uuid);
GRANT SELECT ON transcript_versions TO ddalkkak_system;
CREATE POLICY system_read ON transcript_versions FOR SELECT TO ddalkkak_system USING (true);
