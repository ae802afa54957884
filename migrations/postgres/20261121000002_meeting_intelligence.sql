-- Meeting intelligence (issue 6). Decisions in docs/decisions.md, "Meeting intelligence".
-- The Slack channel (id such as C0123456789) that meeting summaries are posted to. The spec's
-- integrations table has only a token; without a channel the summary goes to the host's DM
-- (users.slack_user_id, D-026).
ALTER TABLE integrations ADD COLUMN channel VARCHAR(100);
ALTER TABLE integrations ADD CONSTRAINT chk_integrations_channel CHECK (channel IS NULL OR channel ~ '^[A-Za-z0-9_#-]{1,100}$');
