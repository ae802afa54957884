-- The language a meeting was transcribed in (a Whisper base code such as 'ko'): the fixed
-- `language=` of its live session, or the one detected and locked for it. NULL: not known
-- (an English-only model, a meeting registered without audio, crash recovery before a lock);
-- the meeting-intelligence job then guesses from the text.
ALTER TABLE meetings ADD COLUMN language TEXT
    CONSTRAINT chk_meetings_language CHECK (language IS NULL OR language ~ '^[a-z]{2,3}$');
