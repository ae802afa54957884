-- Meeting recordings (`PUT /v1/meetings/{id}/recording`): one per meeting, the file in the
-- recording storage under `storage_key`. Its transcription is a `transcribe_recording` job; the
-- job's finals are stored like a live session's, under a session of source RECORDING, so a job
-- that dies resumes after the last stored final and the meeting is assembled exactly as a live
-- one is.
CREATE TABLE recordings (
    meeting_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    storage_key TEXT NOT NULL,
    -- What the file was sniffed as (`wav`, `flac`, `mp3`, `ogg`, `webm`…).
    format TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    -- The transcription's options, as asked on upload.
    language TEXT,
    model TEXT,
    diarize BOOLEAN NOT NULL,
    -- Set once the job has decoded the whole file; until then an estimate from the container.
    duration_ms BIGINT,
    -- Audio the job has transcribed, from the start of the file.
    processed_ms BIGINT NOT NULL DEFAULT 0,
    session_id UUID,
    -- When the running attempt started transcribing (progress rate, ETA).
    started_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT pk_recordings PRIMARY KEY (meeting_id),
    CONSTRAINT fk_recordings_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_recordings_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT chk_recordings_bytes CHECK (bytes > 0),
    CONSTRAINT chk_recordings_processed CHECK (processed_ms >= 0)
);
CREATE INDEX idx_recordings_tenant ON recordings (tenant_id);

ALTER TABLE recordings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_recordings ON recordings FOR ALL TO authenticated_user
    USING (tenant_id = current_setting('app.current_tenant_id')::uuid)
    WITH CHECK (tenant_id = current_setting('app.current_tenant_id')::uuid);

-- LIVE: a WebSocket session. RECORDING: the transcription of an uploaded recording, driven by its
-- job (never swept or recovered as a live session: the job resumes it).
ALTER TABLE realtime_sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'LIVE'
    CONSTRAINT chk_realtime_sessions_source CHECK (source IN ('LIVE', 'RECORDING'));
