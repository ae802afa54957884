-- Browser sign-ins (`POST /v1/web-session`). The cookie names its row, so signing out ends the
-- session on the server: a copied cookie stops working at once, not when it expires.
CREATE TABLE web_sessions (
    id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    user_id UUID NOT NULL,
    api_key_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    CONSTRAINT pk_web_sessions PRIMARY KEY (id),
    CONSTRAINT fk_web_sessions_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_web_sessions_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_web_sessions_api_keys FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE CASCADE
);
CREATE INDEX idx_web_sessions_tenant_expires ON web_sessions (tenant_id, expires_at);

ALTER TABLE web_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_web_sessions ON web_sessions FOR ALL TO authenticated_user
    USING (tenant_id = current_setting('app.current_tenant_id')::uuid)
    WITH CHECK (tenant_id = current_setting('app.current_tenant_id')::uuid);
