-- 110: the health checks an agent runs now, kept with its checkpoint, so the fleet overview shows
-- exactly those: a URL removed from monitoring.yml leaves the card at the agent's next batch (it used
-- to stay for a day), a URL added shows at once as waiting for its first result, and a check that
-- has not reported within its own interval is told apart from one that is merely slow to come round.
--
-- A list of {"url", "interval", "timeout"} (seconds), written by the agent with every checkpoint.
-- NULL: an agent older than this migration, whose checks the hub still shows for a day.
ALTER TABLE agent_checkpoints ADD COLUMN IF NOT EXISTS health_checks jsonb;

-- The agent's checkpoint and its checks, in the batch's transaction (after observ_checkpoint_lock).
CREATE OR REPLACE FUNCTION observ_checkpoint_save(p_vps text, p_app text, p_seq bigint, p_files jsonb,
  p_collection_interval integer, p_agent_version text, p_started_at timestamptz, p_health_checks jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF p_health_checks IS NOT NULL AND jsonb_typeof(p_health_checks) <> 'array' THEN
    RAISE EXCEPTION 'observ_checkpoint_save: health checks must be a JSON array, got %', jsonb_typeof(p_health_checks)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM observ_agent_claim(p_vps, p_app);
  UPDATE agent_checkpoints SET batch_seq = p_seq, files = coalesce(p_files, '[]'::jsonb), collection_interval = p_collection_interval,
         agent_version = p_agent_version, started_at = p_started_at, health_checks = p_health_checks, updated_at = now()
   WHERE vps_name = p_vps AND app_name = p_app;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'observ_checkpoint_save: no checkpoint for %/% (call observ_checkpoint_lock first)', p_vps, p_app
      USING ERRCODE = 'no_data_found';
  END IF;
END;
$$;

-- The older agents' call: their checks are not known, so none are claimed (the hub's one-day rule).
CREATE OR REPLACE FUNCTION observ_checkpoint_save(p_vps text, p_app text, p_seq bigint, p_files jsonb,
  p_collection_interval integer, p_agent_version text, p_started_at timestamptz)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT observ_checkpoint_save(p_vps, p_app, p_seq, p_files, p_collection_interval, p_agent_version, p_started_at, NULL::jsonb);
$$;

REVOKE ALL ON FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz) FROM PUBLIC;

-- Agents already running keep working when the owner migrates without running sql/roles.sql again:
-- the group that may call the older function may call the new one.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'observ_agent') THEN
    GRANT EXECUTE ON FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz, jsonb) TO observ_agent;
  END IF;
END $$;
