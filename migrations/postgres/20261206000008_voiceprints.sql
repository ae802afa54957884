-- Enrolled voices (`PUT /v1/users/{id}/voiceprint`): one per user, the speaker embedding sealed
-- with AES-256-GCM by the application (biometric data: never stored or returned in clear). Rows
-- are deleted, never soft-deleted: withdrawing consent or deleting the user removes the voice.
CREATE TABLE voiceprints (
    user_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    -- `v1:` + base64(nonce ‖ ciphertext ‖ tag) of the little-endian f32 embedding.
    embedding TEXT NOT NULL,
    -- The speaker encoder it was computed with: a voiceprint compares only with embeddings of
    -- the same model.
    model TEXT NOT NULL,
    speech_ms INTEGER NOT NULL,
    enrolled_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT pk_voiceprints PRIMARY KEY (user_id),
    CONSTRAINT fk_voiceprints_tenants FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_voiceprints_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT chk_voiceprints_speech_ms CHECK (speech_ms > 0)
);
CREATE INDEX idx_voiceprints_tenant ON voiceprints (tenant_id);

ALTER TABLE voiceprints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_voiceprints ON voiceprints FOR ALL TO authenticated_user
    USING (tenant_id = current_setting('app.current_tenant_id')::uuid)
    WITH CHECK (tenant_id = current_setting('app.current_tenant_id')::uuid);
