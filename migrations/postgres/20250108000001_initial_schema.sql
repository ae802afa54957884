-- DdalKkak v1.0 schema (PostgreSQL 15). Decisions referenced as D-nnn are in docs/decisions.md.
CREATE EXTENSION IF NOT EXISTS pgcrypto; -- gen_random_uuid() (D-164)

CREATE TYPE user_role_enum AS ENUM ('OWNER', 'ADMIN', 'MEMBER');
CREATE TYPE stt_status_enum AS ENUM ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED'); -- D-179
CREATE TYPE task_status_enum AS ENUM ('TODO', 'IN_PROGRESS', 'DONE');
CREATE TYPE session_status_enum AS ENUM ('ACTIVE', 'ENDED');
CREATE TYPE integration_service_enum AS ENUM ('SLACK', 'TEAMS', 'NOTION');
CREATE TYPE error_status_enum AS ENUM ('PENDING', 'RETRYING', 'RESOLVED', 'DISCARDED'); -- D-134

-- One trigger function keeps every updated_at honest (D-187).
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE tenants (
    id         UUID         NOT NULL DEFAULT gen_random_uuid(),
    name       VARCHAR(100) NOT NULL,
    slug       VARCHAR(50)  NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT pk_tenants PRIMARY KEY (id),
    CONSTRAINT uq_tenants_slug UNIQUE (slug),
    CONSTRAINT chk_tenants_slug CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT chk_tenants_name CHECK (length(btrim(name)) > 0)
);

CREATE TABLE users (
    id            UUID           NOT NULL DEFAULT gen_random_uuid(),
    tenant_id     UUID           NOT NULL,
    email         VARCHAR(255)   NOT NULL,
    name          VARCHAR(100)   NOT NULL,
    role          user_role_enum NOT NULL DEFAULT 'MEMBER',
    slack_user_id VARCHAR(50),
    created_at    TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ    NOT NULL DEFAULT now(),
    deleted_at    TIMESTAMPTZ,
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT fk_users_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_users_email CHECK (email ~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    CONSTRAINT chk_users_name CHECK (length(btrim(name)) > 0)
);
-- D-083/D-124: unique per tenant among live users, so a deleted user's email can be reused.
CREATE UNIQUE INDEX uq_users_tenant_email ON users (tenant_id, lower(email)) WHERE deleted_at IS NULL;
-- D-091: at most one (live) OWNER per tenant.
CREATE UNIQUE INDEX uq_users_tenant_owner ON users (tenant_id) WHERE role = 'OWNER' AND deleted_at IS NULL;
CREATE INDEX idx_users_tenant_id ON users (tenant_id);

CREATE TABLE meetings (
    id                  UUID            NOT NULL DEFAULT gen_random_uuid(),
    tenant_id           UUID            NOT NULL,
    title               VARCHAR(200)    NOT NULL,
    host_id             UUID            NOT NULL,
    audio_file_url      TEXT,
    audio_duration      INTEGER,
    stt_status          stt_status_enum NOT NULL DEFAULT 'PENDING',
    transcript_text     TEXT,
    transcript_segments JSONB,
    speaker_labels      JSONB,
    ai_summary          TEXT,
    ai_action_items     JSONB,
    slack_message_ts    VARCHAR(50),
    created_at          TIMESTAMPTZ     NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ     NOT NULL DEFAULT now(),
    deleted_at          TIMESTAMPTZ,
    CONSTRAINT pk_meetings PRIMARY KEY (id),
    CONSTRAINT fk_meetings_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_meetings_users_host FOREIGN KEY (host_id) REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT chk_meetings_audio_duration CHECK (audio_duration > 0 OR audio_duration IS NULL),
    CONSTRAINT chk_meetings_title CHECK (length(btrim(title)) > 0),
    CONSTRAINT chk_meetings_transcript_segments CHECK (transcript_segments IS NULL OR jsonb_typeof(transcript_segments) = 'array'),
    CONSTRAINT chk_meetings_ai_action_items CHECK (ai_action_items IS NULL OR jsonb_typeof(ai_action_items) IN ('array', 'object'))
);
CREATE INDEX idx_meetings_tenant_id ON meetings (tenant_id);
CREATE INDEX idx_meetings_status ON meetings (stt_status);
CREATE INDEX idx_meetings_tenant_host ON meetings (tenant_id, host_id);
CREATE INDEX idx_meetings_tenant_created ON meetings (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_meetings_ai_actions ON meetings USING GIN (ai_action_items);
CREATE INDEX idx_meetings_speakers ON meetings USING GIN (speaker_labels);
CREATE INDEX idx_meetings_transcript_segments ON meetings USING GIN (transcript_segments jsonb_path_ops);

CREATE TABLE tasks (
    id              UUID             NOT NULL DEFAULT gen_random_uuid(),
    tenant_id       UUID             NOT NULL,
    meeting_id      UUID,
    title           VARCHAR(200)     NOT NULL,
    description     TEXT,
    status          task_status_enum NOT NULL DEFAULT 'TODO',
    assignee_id     UUID,
    due_date        TIMESTAMPTZ,
    is_ai_generated BOOLEAN          NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ      NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ,
    CONSTRAINT pk_tasks PRIMARY KEY (id),
    CONSTRAINT fk_tasks_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_tasks_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL,
    CONSTRAINT fk_tasks_users_assignee FOREIGN KEY (assignee_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT chk_tasks_title CHECK (length(btrim(title)) > 0)
    -- D-096 (AI tasks need a meeting) is enforced by the application, not a CHECK: see D-183.
);
CREATE INDEX idx_tasks_tenant_id ON tasks (tenant_id);
CREATE INDEX idx_tasks_assignee ON tasks (assignee_id);
CREATE INDEX idx_tasks_tenant_status ON tasks (tenant_id, status);
CREATE INDEX idx_tasks_meeting ON tasks (meeting_id);

CREATE TABLE realtime_sessions (
    id         UUID                NOT NULL DEFAULT gen_random_uuid(),
    tenant_id  UUID                NOT NULL,
    meeting_id UUID,
    host_id    UUID                NOT NULL,
    socket_id  VARCHAR(100)        NOT NULL,
    status     session_status_enum NOT NULL DEFAULT 'ACTIVE',
    started_at TIMESTAMPTZ         NOT NULL DEFAULT now(),
    ended_at   TIMESTAMPTZ,
    CONSTRAINT pk_realtime_sessions PRIMARY KEY (id),
    CONSTRAINT fk_realtime_sessions_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_realtime_sessions_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL,
    CONSTRAINT fk_realtime_sessions_users_host FOREIGN KEY (host_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT chk_realtime_sessions_ended CHECK ((status = 'ENDED') = (ended_at IS NOT NULL)),
    CONSTRAINT chk_realtime_sessions_socket CHECK (length(socket_id) > 0)
);
CREATE INDEX idx_realtime_sessions_tenant_id ON realtime_sessions (tenant_id);
CREATE INDEX idx_realtime_sessions_socket ON realtime_sessions (socket_id);
-- D-099/D-189: one ACTIVE session per socket. D-100: a meeting belongs to at most one session.
CREATE UNIQUE INDEX uq_realtime_sessions_active_socket ON realtime_sessions (socket_id) WHERE status = 'ACTIVE';
CREATE UNIQUE INDEX uq_realtime_sessions_meeting ON realtime_sessions (meeting_id) WHERE meeting_id IS NOT NULL;
CREATE INDEX idx_realtime_sessions_active ON realtime_sessions (started_at) WHERE status = 'ACTIVE';

CREATE TABLE integrations (
    id           UUID                     NOT NULL DEFAULT gen_random_uuid(),
    tenant_id    UUID                     NOT NULL,
    service_type integration_service_enum NOT NULL,
    access_token TEXT, -- AES-256-GCM ciphertext written by the application (D-103, D-186)
    is_active    BOOLEAN                  NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ              NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ              NOT NULL DEFAULT now(),
    CONSTRAINT pk_integrations PRIMARY KEY (id),
    CONSTRAINT fk_integrations_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_integrations_tenant_service UNIQUE (tenant_id, service_type)
);
CREATE INDEX idx_integrations_tenant_id ON integrations (tenant_id);

-- API keys: only a SHA-256 of the secret is stored; the prefix identifies a key in logs and lists (C-09).
CREATE TABLE api_keys (
    id           UUID         NOT NULL DEFAULT gen_random_uuid(),
    tenant_id    UUID         NOT NULL,
    user_id      UUID         NOT NULL,
    name         VARCHAR(100) NOT NULL,
    prefix       VARCHAR(16)  NOT NULL,
    key_hash     BYTEA        NOT NULL,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT pk_api_keys PRIMARY KEY (id),
    CONSTRAINT fk_api_keys_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_api_keys_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_api_keys_prefix UNIQUE (prefix),
    CONSTRAINT chk_api_keys_hash CHECK (length(key_hash) = 32)
);
CREATE INDEX idx_api_keys_tenant_user ON api_keys (tenant_id, user_id);

-- Phase 2 tables (D-174, D-175), with CASCADE so tenant deletes are not blocked (D-081).
CREATE TABLE notifications (
    id         UUID        NOT NULL DEFAULT gen_random_uuid(),
    tenant_id  UUID        NOT NULL,
    user_id    UUID        NOT NULL,
    type       VARCHAR(50) NOT NULL,
    message    TEXT        NOT NULL,
    is_read    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_notifications PRIMARY KEY (id),
    CONSTRAINT fk_notifications_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_notifications_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX idx_notifications_user_unread ON notifications (tenant_id, user_id, created_at DESC) WHERE NOT is_read;

CREATE TABLE usage_stats (
    id             UUID        NOT NULL DEFAULT gen_random_uuid(),
    tenant_id      UUID        NOT NULL,
    date           DATE        NOT NULL,
    meetings_count INTEGER     NOT NULL DEFAULT 0,
    audio_minutes  INTEGER     NOT NULL DEFAULT 0,
    ai_requests    INTEGER     NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_usage_stats PRIMARY KEY (id),
    CONSTRAINT fk_usage_stats_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_usage_stats_tenant_date UNIQUE (tenant_id, date),
    CONSTRAINT chk_usage_stats_counts CHECK (meetings_count >= 0 AND audio_minutes >= 0 AND ai_requests >= 0)
);

-- Error isolation (D-130..D-135): the original payload, the cause, when, and a processing status.
CREATE TABLE meetings_error (
    id          UUID              NOT NULL DEFAULT gen_random_uuid(),
    tenant_id   UUID              NOT NULL,
    meeting_id  UUID,
    trace_id    UUID,
    payload     JSONB             NOT NULL DEFAULT '{}'::jsonb,
    error       TEXT              NOT NULL,
    status      error_status_enum NOT NULL DEFAULT 'PENDING',
    occurred_at TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT pk_meetings_error PRIMARY KEY (id),
    CONSTRAINT fk_meetings_error_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_meetings_error_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL
);
CREATE INDEX idx_meetings_error_occurred ON meetings_error (occurred_at);

CREATE TABLE ai_error_log (
    id          UUID              NOT NULL DEFAULT gen_random_uuid(),
    tenant_id   UUID              NOT NULL,
    meeting_id  UUID,
    trace_id    UUID,
    payload     JSONB             NOT NULL DEFAULT '{}'::jsonb,
    error       TEXT              NOT NULL,
    status      error_status_enum NOT NULL DEFAULT 'PENDING',
    occurred_at TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT pk_ai_error_log PRIMARY KEY (id),
    CONSTRAINT fk_ai_error_log_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_ai_error_log_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL
);
CREATE INDEX idx_ai_error_log_occurred ON ai_error_log (occurred_at);

CREATE TABLE integration_error_log (
    id             UUID              NOT NULL DEFAULT gen_random_uuid(),
    tenant_id      UUID              NOT NULL,
    integration_id UUID,
    trace_id       UUID,
    payload        JSONB             NOT NULL DEFAULT '{}'::jsonb,
    error          TEXT              NOT NULL,
    status         error_status_enum NOT NULL DEFAULT 'PENDING',
    occurred_at    TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT pk_integration_error_log PRIMARY KEY (id),
    CONSTRAINT fk_integration_error_log_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_integration_error_log_integrations FOREIGN KEY (integration_id) REFERENCES integrations (id) ON DELETE SET NULL
);
CREATE INDEX idx_integration_error_log_occurred ON integration_error_log (occurred_at);

-- D-133: corrupted data is quarantined for 90 days in its own schema.
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE TABLE quarantine.records (
    id             UUID              NOT NULL DEFAULT gen_random_uuid(),
    tenant_id      UUID,
    source_table   VARCHAR(63)       NOT NULL,
    source_id      UUID,
    payload        JSONB             NOT NULL,
    reason         TEXT              NOT NULL,
    status         error_status_enum NOT NULL DEFAULT 'PENDING',
    quarantined_at TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT pk_quarantine_records PRIMARY KEY (id),
    CONSTRAINT fk_quarantine_records_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX idx_quarantine_records_at ON quarantine.records (quarantined_at);

CREATE TRIGGER trg_tenants_updated_at BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_meetings_updated_at BEFORE UPDATE ON meetings FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_tasks_updated_at BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_integrations_updated_at BEFORE UPDATE ON integrations FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_usage_stats_updated_at BEFORE UPDATE ON usage_stats FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Row Level Security (D-159..D-163, D-185). The server connects as the schema owner and switches to
-- `authenticated_user` with SET LOCAL ROLE inside every tenant transaction, together with
-- SET LOCAL app.current_tenant_id. An unset or empty tenant id makes the policy raise: it fails closed.
DO $$
BEGIN
    CREATE ROLE authenticated_user NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
    EXECUTE format('GRANT authenticated_user TO %I', current_user);
EXCEPTION WHEN invalid_grant_operation THEN NULL; -- already a member, or a superuser granting to itself
END $$;
GRANT USAGE ON SCHEMA public, quarantine TO authenticated_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO authenticated_user;
GRANT SELECT, INSERT ON quarantine.records TO authenticated_user;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO authenticated_user;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_tenants ON tenants FOR ALL TO authenticated_user
    USING (id = current_setting('app.current_tenant_id')::uuid)
    WITH CHECK (id = current_setting('app.current_tenant_id')::uuid);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'meetings', 'tasks', 'realtime_sessions', 'integrations', 'api_keys',
                             'notifications', 'usage_stats', 'meetings_error', 'ai_error_log',
                             'integration_error_log']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO authenticated_user '
                       'USING (tenant_id = current_setting(''app.current_tenant_id'')::uuid) '
                       'WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'')::uuid)',
                       'tenant_isolation_' || t, t);
    END LOOP;
END $$;
ALTER TABLE quarantine.records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_quarantine ON quarantine.records FOR ALL TO authenticated_user
    USING (tenant_id = current_setting('app.current_tenant_id')::uuid)
    WITH CHECK (tenant_id = current_setting('app.current_tenant_id')::uuid);
