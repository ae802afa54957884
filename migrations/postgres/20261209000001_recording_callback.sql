-- Deepgram's asynchronous pre-recorded requests (`callback=`): where the finished transcript is
-- sent (POST, or PUT with `callback_method=put`) by a `deliver_callback` job.
ALTER TABLE recordings ADD COLUMN callback_url TEXT;
ALTER TABLE recordings ADD COLUMN callback_method TEXT
    CONSTRAINT chk_recordings_callback_method CHECK (callback_method IN ('POST', 'PUT'));
