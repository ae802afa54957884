-- See the PostgreSQL migration of the same version.
CREATE TABLE voiceprints (
    user_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    embedding TEXT NOT NULL,
    model TEXT NOT NULL,
    speech_ms INTEGER NOT NULL,
    enrolled_at TEXT NOT NULL,
    CONSTRAINT pk_voiceprints PRIMARY KEY (user_id),
    CONSTRAINT fk_voiceprints_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_voiceprints_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT chk_voiceprints_speech_ms CHECK (speech_ms > 0)
);
CREATE INDEX idx_voiceprints_tenant ON voiceprints (tenant_id);
