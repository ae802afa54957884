-- See the PostgreSQL migration of the same version.
CREATE TABLE recordings (
    meeting_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    storage_key TEXT NOT NULL,
    format TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    language TEXT,
    model TEXT,
    diarize INTEGER NOT NULL,
    duration_ms INTEGER,
    processed_ms INTEGER NOT NULL DEFAULT 0,
    session_id BLOB,
    started_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT pk_recordings PRIMARY KEY (meeting_id),
    CONSTRAINT fk_recordings_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_recordings_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT chk_recordings_bytes CHECK (bytes > 0),
    CONSTRAINT chk_recordings_processed CHECK (processed_ms >= 0)
);
CREATE INDEX idx_recordings_tenant ON recordings (tenant_id);

ALTER TABLE realtime_sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'LIVE'
    CHECK (source IN ('LIVE', 'RECORDING'));
