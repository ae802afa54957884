-- Live sessions (issue 4). Decisions in docs/decisions.md, "Live sessions".
-- Which server process owns an ACTIVE session: on start-up a process finalizes the sessions it
-- left ACTIVE when it crashed (and only those, so several processes can share one database).
ALTER TABLE realtime_sessions ADD COLUMN server_instance VARCHAR(100);
CREATE INDEX idx_realtime_sessions_instance_active ON realtime_sessions (server_instance) WHERE status = 'ACTIVE';

-- Every final segment, written as it is produced: the meeting is assembled from these at the
-- end, and after a crash. Append-only; removed with their session by the retention purge.
CREATE TABLE transcript_finals (
    session_id UUID        NOT NULL,
    seq        INTEGER     NOT NULL,
    tenant_id  UUID        NOT NULL,
    meeting_id UUID        NOT NULL,
    start_ms   INTEGER     NOT NULL,
    end_ms     INTEGER     NOT NULL,
    speaker    INTEGER,
    text       TEXT        NOT NULL,
    words      JSONB       NOT NULL DEFAULT '[]'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_transcript_finals PRIMARY KEY (session_id, seq),
    CONSTRAINT fk_transcript_finals_realtime_sessions FOREIGN KEY (session_id) REFERENCES realtime_sessions (id) ON DELETE CASCADE,
    CONSTRAINT fk_transcript_finals_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_transcript_finals_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT chk_transcript_finals_seq CHECK (seq >= 0),
    CONSTRAINT chk_transcript_finals_times CHECK (start_ms >= 0 AND end_ms >= start_ms),
    CONSTRAINT chk_transcript_finals_words CHECK (jsonb_typeof(words) = 'array')
);
CREATE INDEX idx_transcript_finals_tenant_id ON transcript_finals (tenant_id);
CREATE INDEX idx_transcript_finals_meeting_id ON transcript_finals (meeting_id);

-- Durable background jobs; the finalized meeting enqueues its summary/action-item job in the
-- same transaction. One job per (kind, meeting): enqueueing twice is a no-op.
CREATE TYPE job_status_enum AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED');
CREATE TABLE jobs (
    id           UUID            NOT NULL,
    tenant_id    UUID            NOT NULL,
    kind         VARCHAR(50)     NOT NULL,
    meeting_id   UUID,
    status       job_status_enum NOT NULL DEFAULT 'QUEUED',
    attempts     INTEGER         NOT NULL DEFAULT 0,
    run_after    TIMESTAMPTZ     NOT NULL DEFAULT now(),
    locked_until TIMESTAMPTZ,
    last_error   TEXT,
    created_at   TIMESTAMPTZ     NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ     NOT NULL DEFAULT now(),
    CONSTRAINT pk_jobs PRIMARY KEY (id),
    CONSTRAINT fk_jobs_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_jobs_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE CASCADE,
    CONSTRAINT uq_jobs_kind_meeting UNIQUE (kind, meeting_id),
    CONSTRAINT chk_jobs_kind CHECK (length(kind) > 0),
    CONSTRAINT chk_jobs_attempts CHECK (attempts >= 0)
);
CREATE INDEX idx_jobs_tenant_id ON jobs (tenant_id);
CREATE INDEX idx_jobs_runnable ON jobs (run_after) WHERE status IN ('QUEUED', 'RUNNING');

GRANT SELECT, INSERT, UPDATE, DELETE ON transcript_finals, jobs TO authenticated_user;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['transcript_finals', 'jobs']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO authenticated_user '
                       'USING (tenant_id = current_setting(''app.current_tenant_id'')::uuid) '
                       'WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'')::uuid)',
                       'tenant_isolation_' || t, t);
    END LOOP;
END $$;
