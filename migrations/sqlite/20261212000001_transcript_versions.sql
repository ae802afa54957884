-- See the PostgreSQL migration of the same version.
CREATE TABLE transcript_versions (
    id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    meeting_id BLOB NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('LIVE', 'RECORDING', 'RETRANSCRIBE')),
    model TEXT,
    language TEXT,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    transcript_text TEXT,
    transcript_segments TEXT,
    speaker_labels TEXT CHECK (speaker_labels IS NULL OR json_valid(speaker_labels)),
    CONSTRAINT pk_transcript_versions PRIMARY KEY (id),
    CONSTRAINT fk_transcript_versions_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_transcript_versions_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT chk_transcript_versions_segments CHECK (transcript_segments IS NULL OR (json_valid(transcript_segments) AND json_type(transcript_segments) = 'array'))
);
CREATE INDEX idx_transcript_versions_tenant ON transcript_versions (tenant_id);
CREATE INDEX idx_transcript_versions_meeting ON transcript_versions (meeting_id);

DROP INDEX uq_realtime_sessions_meeting;
CREATE UNIQUE INDEX uq_realtime_sessions_meeting ON realtime_sessions (meeting_id)
    WHERE meeting_id IS NOT NULL AND source = 'LIVE';

INSERT INTO transcript_versions (id, tenant_id, meeting_id, source, language, created_at, completed_at)
SELECT COALESCE(s.id, m.id), m.tenant_id, m.id, COALESCE(s.source, 'LIVE'), m.language,
       COALESCE(s.started_at, m.created_at), COALESCE(s.ended_at, m.updated_at)
FROM meetings m
LEFT JOIN realtime_sessions s ON s.tenant_id = m.tenant_id AND s.meeting_id = m.id AND s.status = 'ENDED'
WHERE m.stt_status = 'COMPLETED';
INSERT INTO transcript_versions (id, tenant_id, meeting_id, source, created_at)
SELECT s.id, s.tenant_id, s.meeting_id, s.source, s.started_at
FROM realtime_sessions s WHERE s.status = 'ACTIVE' AND s.meeting_id IS NOT NULL;
