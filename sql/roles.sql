-- Roles for the running services: agents may only add their own data, the hub may only read (and
-- run the maintenance functions, which do their work as the schema owner), keep alert state. What
-- each role holds is listed in docs/security.md and asserted by test/ops/roles.test.ts.
-- No function is executable by PUBLIC (each migration revokes it).
--
-- Run after `observ db migrate`, in the same database, as a superuser or as the schema owner when
-- it has CREATEROLE; run it again after every upgrade (it is idempotent, and new tables need it):
--
--   psql "$OWNER_URL" -f sql/roles.sql
--
-- Then give each agent (one per VPS and app) and each hub its own login in one of the two groups,
-- and register the agent's login before it first writes (else its first write claims it):
--
--   CREATE ROLE agent_web1_shop LOGIN PASSWORD '…' IN ROLE observ_agent;
--   SELECT observ_register_agent('web1', 'shop', 'agent_web1_shop');
--   CREATE ROLE hub             LOGIN PASSWORD '…' IN ROLE observ_hub;
--
-- and use those in OBSERV_DB_URL. Migrations must be run with the owner's URL (`observ db migrate`):
-- the service roles cannot create or alter tables.

DO $$
BEGIN
  CREATE ROLE observ_agent NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
  CREATE ROLE observ_hub NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

GRANT USAGE ON SCHEMA public TO observ_agent, observ_hub;

-- Agent: append rows, keep its exactly-once checkpoint, create the day's partitions.
-- COPY FROM needs INSERT only; a statement trigger (migration 040) refuses rows of any vps/app other
-- than the ones the login holds in observ_agent_logins, so observ_agent_owns() is executable. The
-- checkpoint is read at start (SELECT) and written only through observ_checkpoint_lock/save, which
-- are keyed by the login: no INSERT or UPDATE on agent_checkpoints, so one agent cannot move
-- another's checkpoint. Give every agent its own login (see docs/security.md).
GRANT INSERT ON vps_metrics, health_checks, log_entries, agent_events TO observ_agent;
-- `observ deploy` run by a pipeline with the agent's login (its own vps/app only, migration 070);
-- the agent's symlink deploys reach deployments through agent_events.
GRANT INSERT ON deployments TO observ_agent;
GRANT SELECT ON agent_checkpoints TO observ_agent;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON agent_checkpoints FROM observ_agent;
GRANT EXECUTE ON FUNCTION observ_checkpoint_lock(text, text) TO observ_agent;
GRANT EXECUTE ON FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz) TO observ_agent;
GRANT EXECUTE ON FUNCTION observ_checkpoint_save(text, text, bigint, jsonb, integer, text, timestamptz, jsonb) TO observ_agent;
GRANT EXECUTE ON FUNCTION observ_agent_owns(text, text) TO observ_agent;
-- The agent compares the schema version with its own before it starts.
GRANT SELECT ON observ_schema_migrations TO observ_agent;
-- Bounded (migration 041); beyond the defaults only for the owner.
GRANT EXECUTE ON FUNCTION observ_ensure_partitions(integer, integer) TO observ_agent;

-- Hub: read everything, now and in tables that later migrations create…
GRANT SELECT ON ALL TABLES IN SCHEMA public TO observ_hub;
DO $$
DECLARE
  v_owner text := (SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'vps_metrics');
BEGIN
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO observ_hub', v_owner);
END $$;
-- …run retention, rollups and partition upkeep (SECURITY DEFINER functions: the policy they apply
-- is in observ_retention, which only the owner can change)…
GRANT EXECUTE ON FUNCTION observ_ensure_partitions(integer, integer) TO observ_hub;
GRANT EXECUTE ON FUNCTION observ_rollup(interval) TO observ_hub;
GRANT EXECUTE ON FUNCTION observ_apply_retention(text, boolean) TO observ_hub;
GRANT EXECUTE ON FUNCTION observ_maintenance_record(text, boolean, jsonb, text) TO observ_hub;
-- …and keep alert state: tables named alert* / observ_alert* (migrations 030–039) are writable by
-- the hub. Default privileges cannot single those out, which is why this file is re-run after
-- upgrades.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables
            WHERE schemaname = 'public' AND (tablename LIKE 'alert%' OR tablename LIKE 'observ\_alert%')
  LOOP
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO observ_hub', t.tablename);
  END LOOP;
  FOR t IN SELECT sequencename FROM pg_sequences
            WHERE schemaname = 'public' AND (sequencename LIKE 'alert%' OR sequencename LIKE 'observ\_alert%')
  LOOP
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %I TO observ_hub', t.sequencename);
  END LOOP;
END $$;
