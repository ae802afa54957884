-- Live sessions (issue 4); see the PostgreSQL migration of the same version for the reasons.
ALTER TABLE realtime_sessions ADD COLUMN server_instance TEXT CHECK (length(server_instance) <= 100);
CREATE INDEX idx_realtime_sessions_instance_active ON realtime_sessions (server_instance) WHERE status = 'ACTIVE';

CREATE TABLE transcript_finals (
    session_id BLOB    NOT NULL,
    seq        INTEGER NOT NULL,
    tenant_id  BLOB    NOT NULL,
    meeting_id BLOB    NOT NULL,
    start_ms   INTEGER NOT NULL,
    end_ms     INTEGER NOT NULL,
    speaker    INTEGER,
    text       TEXT    NOT NULL,
    words      TEXT    NOT NULL DEFAULT '[]',
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_transcript_finals PRIMARY KEY (session_id, seq),
    CONSTRAINT fk_transcript_finals_realtime_sessions FOREIGN KEY (session_id) REFERENCES realtime_sessions (id) ON DELETE CASCADE,
    CONSTRAINT fk_transcript_finals_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_transcript_finals_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT chk_transcript_finals_seq CHECK (seq >= 0),
    CONSTRAINT chk_transcript_finals_times CHECK (start_ms >= 0 AND end_ms >= start_ms),
    CONSTRAINT chk_transcript_finals_words CHECK (json_valid(words) AND json_type(words) = 'array')
);
CREATE INDEX idx_transcript_finals_tenant_id ON transcript_finals (tenant_id);
CREATE INDEX idx_transcript_finals_meeting_id ON transcript_finals (meeting_id);

CREATE TABLE jobs (
    id           BLOB    NOT NULL,
    tenant_id    BLOB    NOT NULL,
    kind         TEXT    NOT NULL,
    meeting_id   BLOB,
    status       TEXT    NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_after    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    locked_until TEXT,
    last_error   TEXT,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_jobs PRIMARY KEY (id),
    CONSTRAINT fk_jobs_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_jobs_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT uq_jobs_kind_meeting UNIQUE (kind, meeting_id),
    CONSTRAINT chk_jobs_kind CHECK (length(kind) BETWEEN 1 AND 50),
    CONSTRAINT chk_jobs_attempts CHECK (attempts >= 0)
);
CREATE INDEX idx_jobs_tenant_id ON jobs (tenant_id);
CREATE INDEX idx_jobs_runnable ON jobs (run_after) WHERE status IN ('QUEUED', 'RUNNING');
