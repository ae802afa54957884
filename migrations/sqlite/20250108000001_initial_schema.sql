-- DdalKkak v1.0 schema (SQLite, the embedded default). Same tables, columns and constraints as
-- migrations/postgres; the type mapping and the places SQLite differs are listed in docs/decisions.md:
-- UUID -> BLOB(16) (sqlx's encoding), TIMESTAMPTZ -> TEXT (RFC 3339, UTC), JSONB -> TEXT (json_valid),
-- enums -> TEXT + CHECK, BOOLEAN -> INTEGER 0/1, regex CHECKs -> GLOB patterns (the application
-- validates with the exact regex first), RESTRICT -> NO ACTION (checked at statement end, so a tenant
-- cascade that also removes the host's meetings is not refused half-way).

CREATE TABLE tenants (
    id         BLOB    NOT NULL,
    name       TEXT    NOT NULL CHECK (length(name) <= 100 AND length(trim(name)) > 0),
    slug       TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_tenants PRIMARY KEY (id),
    CONSTRAINT uq_tenants_slug UNIQUE (slug),
    -- ^[a-z0-9]+(-[a-z0-9]+)*$ without a regex engine
    CONSTRAINT chk_tenants_slug CHECK (length(slug) BETWEEN 1 AND 50 AND slug NOT GLOB '*[^a-z0-9-]*'
        AND slug NOT GLOB '-*' AND slug NOT GLOB '*-' AND slug NOT GLOB '*--*')
);

CREATE TABLE users (
    id            BLOB NOT NULL,
    tenant_id     BLOB NOT NULL,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL CHECK (length(name) <= 100 AND length(trim(name)) > 0),
    role          TEXT NOT NULL DEFAULT 'MEMBER' CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
    slack_user_id TEXT CHECK (length(slack_user_id) <= 50),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    deleted_at    TEXT,
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT fk_users_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_users_email CHECK (length(email) <= 255 AND email GLOB '?*@?*.[A-Za-z][A-Za-z]*'
        AND email NOT GLOB '*[^A-Za-z0-9._%+@-]*' AND email NOT GLOB '*@*@*')
);
CREATE UNIQUE INDEX uq_users_tenant_email ON users (tenant_id, lower(email)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX uq_users_tenant_owner ON users (tenant_id) WHERE role = 'OWNER' AND deleted_at IS NULL;
CREATE INDEX idx_users_tenant_id ON users (tenant_id);

CREATE TABLE meetings (
    id                  BLOB    NOT NULL,
    tenant_id           BLOB    NOT NULL,
    title               TEXT    NOT NULL CHECK (length(title) <= 200),
    host_id             BLOB    NOT NULL,
    audio_file_url      TEXT,
    audio_duration      INTEGER,
    stt_status          TEXT    NOT NULL DEFAULT 'PENDING' CHECK (stt_status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
    transcript_text     TEXT,
    transcript_segments TEXT,
    speaker_labels      TEXT CHECK (speaker_labels IS NULL OR json_valid(speaker_labels)),
    ai_summary          TEXT,
    ai_action_items     TEXT,
    slack_message_ts    TEXT CHECK (length(slack_message_ts) <= 50),
    created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    deleted_at          TEXT,
    CONSTRAINT pk_meetings PRIMARY KEY (id),
    CONSTRAINT fk_meetings_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_meetings_users_host FOREIGN KEY (host_id) REFERENCES users (id) ON DELETE NO ACTION,
    CONSTRAINT chk_meetings_audio_duration CHECK (audio_duration > 0 OR audio_duration IS NULL),
    CONSTRAINT chk_meetings_title CHECK (length(trim(title)) > 0),
    CONSTRAINT chk_meetings_transcript_segments CHECK (transcript_segments IS NULL OR (json_valid(transcript_segments) AND json_type(transcript_segments) = 'array')),
    CONSTRAINT chk_meetings_ai_action_items CHECK (ai_action_items IS NULL OR (json_valid(ai_action_items) AND json_type(ai_action_items) IN ('array', 'object')))
);
CREATE INDEX idx_meetings_tenant_id ON meetings (tenant_id);
CREATE INDEX idx_meetings_status ON meetings (stt_status);
CREATE INDEX idx_meetings_tenant_host ON meetings (tenant_id, host_id);
CREATE INDEX idx_meetings_tenant_created ON meetings (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE tasks (
    id              BLOB    NOT NULL,
    tenant_id       BLOB    NOT NULL,
    meeting_id      BLOB,
    title           TEXT    NOT NULL CHECK (length(title) <= 200),
    description     TEXT,
    status          TEXT    NOT NULL DEFAULT 'TODO' CHECK (status IN ('TODO', 'IN_PROGRESS', 'DONE')),
    assignee_id     BLOB,
    due_date        TEXT,
    is_ai_generated INTEGER NOT NULL DEFAULT 0 CHECK (is_ai_generated IN (0, 1)),
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    deleted_at      TEXT,
    CONSTRAINT pk_tasks PRIMARY KEY (id),
    CONSTRAINT fk_tasks_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_tasks_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL,
    CONSTRAINT fk_tasks_users_assignee FOREIGN KEY (assignee_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT chk_tasks_title CHECK (length(trim(title)) > 0)
);
CREATE INDEX idx_tasks_tenant_id ON tasks (tenant_id);
CREATE INDEX idx_tasks_assignee ON tasks (assignee_id);
CREATE INDEX idx_tasks_tenant_status ON tasks (tenant_id, status);
CREATE INDEX idx_tasks_meeting ON tasks (meeting_id);

CREATE TABLE realtime_sessions (
    id         BLOB NOT NULL,
    tenant_id  BLOB NOT NULL,
    meeting_id BLOB,
    host_id    BLOB NOT NULL,
    socket_id  TEXT NOT NULL CHECK (length(socket_id) BETWEEN 1 AND 100),
    status     TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ENDED')),
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ended_at   TEXT,
    CONSTRAINT pk_realtime_sessions PRIMARY KEY (id),
    CONSTRAINT fk_realtime_sessions_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_realtime_sessions_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL,
    CONSTRAINT fk_realtime_sessions_users_host FOREIGN KEY (host_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT chk_realtime_sessions_ended CHECK ((status = 'ENDED') = (ended_at IS NOT NULL))
);
CREATE INDEX idx_realtime_sessions_tenant_id ON realtime_sessions (tenant_id);
CREATE INDEX idx_realtime_sessions_socket ON realtime_sessions (socket_id);
CREATE UNIQUE INDEX uq_realtime_sessions_active_socket ON realtime_sessions (socket_id) WHERE status = 'ACTIVE';
CREATE UNIQUE INDEX uq_realtime_sessions_meeting ON realtime_sessions (meeting_id) WHERE meeting_id IS NOT NULL;
CREATE INDEX idx_realtime_sessions_active ON realtime_sessions (started_at) WHERE status = 'ACTIVE';

CREATE TABLE integrations (
    id           BLOB    NOT NULL,
    tenant_id    BLOB    NOT NULL,
    service_type TEXT    NOT NULL CHECK (service_type IN ('SLACK', 'TEAMS', 'NOTION')),
    access_token TEXT,
    is_active    INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_integrations PRIMARY KEY (id),
    CONSTRAINT fk_integrations_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_integrations_tenant_service UNIQUE (tenant_id, service_type)
);
CREATE INDEX idx_integrations_tenant_id ON integrations (tenant_id);

CREATE TABLE api_keys (
    id           BLOB NOT NULL,
    tenant_id    BLOB NOT NULL,
    user_id      BLOB NOT NULL,
    name         TEXT NOT NULL CHECK (length(name) <= 100),
    prefix       TEXT NOT NULL CHECK (length(prefix) <= 16),
    key_hash     BLOB NOT NULL CHECK (length(key_hash) = 32),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    last_used_at TEXT,
    revoked_at   TEXT,
    CONSTRAINT pk_api_keys PRIMARY KEY (id),
    CONSTRAINT fk_api_keys_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_api_keys_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_api_keys_prefix UNIQUE (prefix)
);
CREATE INDEX idx_api_keys_tenant_user ON api_keys (tenant_id, user_id);

CREATE TABLE notifications (
    id         BLOB    NOT NULL,
    tenant_id  BLOB    NOT NULL,
    user_id    BLOB    NOT NULL,
    type       TEXT    NOT NULL CHECK (length(type) <= 50),
    message    TEXT    NOT NULL,
    is_read    INTEGER NOT NULL DEFAULT 0 CHECK (is_read IN (0, 1)),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_notifications PRIMARY KEY (id),
    CONSTRAINT fk_notifications_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_notifications_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX idx_notifications_user_unread ON notifications (tenant_id, user_id, created_at DESC) WHERE NOT is_read;

CREATE TABLE usage_stats (
    id             BLOB    NOT NULL,
    tenant_id      BLOB    NOT NULL,
    date           TEXT    NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    meetings_count INTEGER NOT NULL DEFAULT 0,
    audio_minutes  INTEGER NOT NULL DEFAULT 0,
    ai_requests    INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_usage_stats PRIMARY KEY (id),
    CONSTRAINT fk_usage_stats_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_usage_stats_tenant_date UNIQUE (tenant_id, date),
    CONSTRAINT chk_usage_stats_counts CHECK (meetings_count >= 0 AND audio_minutes >= 0 AND ai_requests >= 0)
);

CREATE TABLE meetings_error (
    id          BLOB NOT NULL,
    tenant_id   BLOB NOT NULL,
    meeting_id  BLOB,
    trace_id    BLOB,
    payload     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    error       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RETRYING', 'RESOLVED', 'DISCARDED')),
    occurred_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_meetings_error PRIMARY KEY (id),
    CONSTRAINT fk_meetings_error_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_meetings_error_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL
);
CREATE INDEX idx_meetings_error_occurred ON meetings_error (occurred_at);

CREATE TABLE ai_error_log (
    id          BLOB NOT NULL,
    tenant_id   BLOB NOT NULL,
    meeting_id  BLOB,
    trace_id    BLOB,
    payload     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    error       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RETRYING', 'RESOLVED', 'DISCARDED')),
    occurred_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_ai_error_log PRIMARY KEY (id),
    CONSTRAINT fk_ai_error_log_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_ai_error_log_meetings FOREIGN KEY (meeting_id) REFERENCES meetings (id) ON DELETE SET NULL
);
CREATE INDEX idx_ai_error_log_occurred ON ai_error_log (occurred_at);

CREATE TABLE integration_error_log (
    id             BLOB NOT NULL,
    tenant_id      BLOB NOT NULL,
    integration_id BLOB,
    trace_id       BLOB,
    payload        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    error          TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RETRYING', 'RESOLVED', 'DISCARDED')),
    occurred_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_integration_error_log PRIMARY KEY (id),
    CONSTRAINT fk_integration_error_log_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_integration_error_log_integrations FOREIGN KEY (integration_id) REFERENCES integrations (id) ON DELETE SET NULL
);
CREATE INDEX idx_integration_error_log_occurred ON integration_error_log (occurred_at);

-- SQLite has no schemas inside one file: PostgreSQL's quarantine.records is quarantine_records here.
CREATE TABLE quarantine_records (
    id             BLOB NOT NULL,
    tenant_id      BLOB,
    source_table   TEXT NOT NULL,
    source_id      BLOB,
    payload        TEXT NOT NULL CHECK (json_valid(payload)),
    reason         TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RETRYING', 'RESOLVED', 'DISCARDED')),
    quarantined_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT pk_quarantine_records PRIMARY KEY (id),
    CONSTRAINT fk_quarantine_records_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX idx_quarantine_records_at ON quarantine_records (quarantined_at);

-- updated_at maintenance (D-187): only when the statement did not set it itself.
CREATE TRIGGER trg_tenants_updated_at AFTER UPDATE ON tenants FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE tenants SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id; END;
CREATE TRIGGER trg_users_updated_at AFTER UPDATE ON users FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE users SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id; END;
CREATE TRIGGER trg_meetings_updated_at AFTER UPDATE ON meetings FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE meetings SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id; END;
CREATE TRIGGER trg_tasks_updated_at AFTER UPDATE ON tasks FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE tasks SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id; END;
CREATE TRIGGER trg_integrations_updated_at AFTER UPDATE ON integrations FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE integrations SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id; END;
CREATE TRIGGER trg_usage_stats_updated_at AFTER UPDATE ON usage_stats FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE usage_stats SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id; END;
