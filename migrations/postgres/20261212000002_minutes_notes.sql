-- The structured minutes beside ai_summary and ai_action_items: what the meeting decided and
-- what it left open, each `{text, source_segments}` (the transcript segments that say it).
-- Written by the meeting-intelligence job with the summary; NULL until then.
ALTER TABLE meetings ADD COLUMN ai_decisions JSONB
    CONSTRAINT chk_meetings_ai_decisions CHECK (ai_decisions IS NULL OR jsonb_typeof(ai_decisions) = 'array');
ALTER TABLE meetings ADD COLUMN ai_open_questions JSONB
    CONSTRAINT chk_meetings_ai_open_questions CHECK (ai_open_questions IS NULL OR jsonb_typeof(ai_open_questions) = 'array');
