-- Audio a live session accepted but could not transcribe or store (engine stopped, shutdown
-- deadline, database away): [{"start": s, "end": s, "reason": "..."}], kept on the meeting so the
-- transcript never silently misses a stretch.
ALTER TABLE meetings ADD COLUMN transcript_gaps JSONB
    CONSTRAINT chk_meetings_transcript_gaps CHECK (transcript_gaps IS NULL OR jsonb_typeof(transcript_gaps) = 'array');
