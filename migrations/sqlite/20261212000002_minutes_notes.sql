-- See the PostgreSQL migration of the same version.
ALTER TABLE meetings ADD COLUMN ai_decisions TEXT CONSTRAINT chk_meetings_ai_decisions
    CHECK (ai_decisions IS NULL OR (json_valid(ai_decisions) AND json_type(ai_decisions) = 'array'));
ALTER TABLE meetings ADD COLUMN ai_open_questions TEXT CONSTRAINT chk_meetings_ai_open_questions
    CHECK (ai_open_questions IS NULL OR (json_valid(ai_open_questions) AND json_type(ai_open_questions) = 'array'));
