-- 040: each agent writes only its own rows and its own checkpoint.
--
-- An agent is a (vps_name, app_name) pair; observ_agent_logins says which database login may write
-- as it. A login that writes as an agent nobody holds yet claims it (first write wins), or the
-- schema owner registers it up front with observ_register_agent(), which is what closes the window
-- before an agent's first write. Sessions with the rights of the tables' owner (the owner itself, a
-- superuser: the embedded default) are not restricted.
--
-- The checkpoint is written only through the two SECURITY DEFINER functions below (service roles
-- get no UPDATE on agent_checkpoints), keyed by session_user: a login cannot change it, and SET ROLE
-- does not change it. Rows are checked by one statement-level trigger per table over the statement's
-- transition table (row-level security would refuse COPY FROM; a row trigger costs per row): the
-- distinct (vps_name, app_name) pairs of a batch are looked up once each.

CREATE TABLE IF NOT EXISTS observ_agent_logins (
  vps_name   text NOT NULL,
  app_name   text NOT NULL,
  login      name NOT NULL,
  how        text NOT NULL DEFAULT 'first_write' CHECK (how IN ('first_write', 'registered')),
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (vps_name, app_name)
);

-- True when the session may write as any agent: its login has the rights of the tables' owner.
CREATE OR REPLACE FUNCTION observ_session_is_owner()
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = 'agent_checkpoints'::regclass), 'USAGE');
$$;

-- Claims (vps, app) for the session's login if nobody holds it; raises 42501 if another login does.
CREATE OR REPLACE FUNCTION observ_agent_claim(p_vps text, p_app text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_login name;
BEGIN
  IF p_vps IS NULL OR p_app IS NULL THEN
    RAISE EXCEPTION 'observ_agent_claim: vps_name and app_name are required' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF observ_session_is_owner() THEN
    RETURN;
  END IF;
  SELECT login INTO v_login FROM observ_agent_logins WHERE vps_name = p_vps AND app_name = p_app;
  IF NOT FOUND THEN -- the first write claims it (a concurrent first write of another login loses here)
    INSERT INTO observ_agent_logins (vps_name, app_name, login) VALUES (p_vps, p_app, session_user)
      ON CONFLICT (vps_name, app_name) DO NOTHING;
    SELECT login INTO v_login FROM observ_agent_logins WHERE vps_name = p_vps AND app_name = p_app;
  END IF;
  IF v_login <> session_user THEN
    RAISE EXCEPTION 'login % may not write as agent %/%: it belongs to login %', session_user, p_vps, p_app, v_login
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'give each agent its own login; the schema owner can move an agent with observ_register_agent()';
  END IF;
END;
$$;

-- Locks the agent's checkpoint row for this transaction (creating it at 0) and returns its batch_seq.
CREATE OR REPLACE FUNCTION observ_checkpoint_lock(p_vps text, p_app text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_seq bigint;
BEGIN
  PERFORM observ_agent_claim(p_vps, p_app);
  INSERT INTO agent_checkpoints (vps_name, app_name, batch_seq) VALUES (p_vps, p_app, 0)
    ON CONFLICT (vps_name, app_name) DO NOTHING;
  SELECT batch_seq INTO v_seq FROM agent_checkpoints WHERE vps_name = p_vps AND app_name = p_app FOR UPDATE;
  RETURN v_seq;
END;
$$;

-- Stores the agent's checkpoint (in the batch's transaction, after observ_checkpoint_lock).
CREATE OR REPLACE FUNCTION observ_checkpoint_save(p_vps text, p_app text, p_seq bigint, p_files jsonb,
  p_collection_interval integer, p_agent_version text, p_started_at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM observ_agent_claim(p_vps, p_app);
  UPDATE agent_checkpoints SET batch_seq = p_seq, files = coalesce(p_files, '[]'::jsonb), collection_interval = p_collection_interval,
         agent_version = p_agent_version, started_at = p_started_at, updated_at = now()
   WHERE vps_name = p_vps AND app_name = p_app;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'observ_checkpoint_save: no checkpoint for %/% (call observ_checkpoint_lock first)', p_vps, p_app
      USING ERRCODE = 'no_data_found';
  END IF;
END;
$$;

-- The schema owner gives an agent to a login before its first write (or moves it to another login).
CREATE OR REPLACE FUNCTION observ_register_agent(p_vps text, p_app text, p_login name)
RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF to_regrole(quote_ident(p_login)) IS NULL THEN
    RAISE EXCEPTION 'observ_register_agent: no role named %', p_login USING ERRCODE = 'undefined_object';
  END IF;
  INSERT INTO observ_agent_logins (vps_name, app_name, login, how) VALUES (p_vps, p_app, p_login, 'registered')
    ON CONFLICT (vps_name, app_name) DO UPDATE SET login = excluded.login, how = 'registered', claimed_at = now();
END;
$$;

-- Statement-level check of every row a non-owner inserts into the agents' tables. current_user (not
-- session_user) decides who is exempt, so that owner functions (observ_ensure_partitions moving rows
-- out of a DEFAULT partition) pass when an agent calls them.
CREATE OR REPLACE FUNCTION observ_agent_owns(p_vps text, p_app text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM observ_agent_logins WHERE vps_name = p_vps AND app_name = p_app AND login = session_user);
$$;

CREATE OR REPLACE FUNCTION observ_check_agent_rows()
RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_bad record;
BEGIN
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
    RETURN NULL;
  END IF;
  SELECT n.vps_name, n.app_name INTO v_bad
    FROM (SELECT DISTINCT vps_name, app_name FROM observ_new_rows) n
   WHERE NOT observ_agent_owns(n.vps_name, n.app_name)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'login % may not write rows of agent %/% into %', session_user, v_bad.vps_name, v_bad.app_name, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'an agent writes only rows of the vps_name/app_name its login holds (observ_agent_logins)';
  END IF;
  RETURN NULL;
END;
$$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['vps_metrics', 'health_checks', 'log_entries', 'agent_events'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS observ_agent_rows ON %I', t);
    EXECUTE format('CREATE TRIGGER observ_agent_rows AFTER INSERT ON %I REFERENCING NEW TABLE AS observ_new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION observ_check_agent_rows()', t);
  END LOOP;
END $$;

REVOKE ALL ON FUNCTION observ_session_is_owner() FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_agent_claim(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_checkpoint_lock(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_register_agent(text, text, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_agent_owns(text, text) FROM PUBLIC;
-- A trigger function needs no EXECUTE grant to fire.
REVOKE ALL ON FUNCTION observ_check_agent_rows() FROM PUBLIC;
