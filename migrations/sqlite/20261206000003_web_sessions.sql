-- See the PostgreSQL migration of the same version.
CREATE TABLE web_sessions (
    id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    api_key_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT,
    CONSTRAINT pk_web_sessions PRIMARY KEY (id),
    CONSTRAINT fk_web_sessions_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_web_sessions_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_web_sessions_api_keys FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE CASCADE
);
CREATE INDEX idx_web_sessions_tenant_expires ON web_sessions (tenant_id, expires_at);
