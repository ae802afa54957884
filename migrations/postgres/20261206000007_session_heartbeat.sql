-- A live session's last sign of life from the actor that owns it. An ACTIVE session whose
-- heartbeat is older than the sweeper's limit lost its owner (a crashed or cut-off instance) and
-- is finalized from its stored finals by whichever instance sweeps first.
ALTER TABLE realtime_sessions ADD COLUMN heartbeat_at TIMESTAMPTZ;
