-- Roles for the running services: agents may only add data, the hub may only read (and run the
-- maintenance functions, which do their work as the schema owner).
--
-- Run after `observ db migrate`, in the same database, as a superuser or as the schema owner when
-- it has CREATEROLE; run it again after every upgrade (it is idempotent, and new tables need it):
--
--   psql "$OWNER_URL" -f sql/roles.sql
--
-- Then give each VPS (or each app) and each hub its own login in one of the two groups:
--
--   CREATE ROLE agent_web1 LOGIN PASSWORD '…' IN ROLE observ_agent;
--   CREATE ROLE hub        LOGIN PASSWORD '…' IN ROLE observ_hub;
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
-- COPY FROM needs INSERT only. The checkpoint is read back at start and locked (SELECT … FOR UPDATE)
-- while a batch is stored, so that table also needs SELECT and UPDATE. The role is shared by all
-- agents: it cannot tell one agent's checkpoint row from another's (a per-agent row-level policy
-- would need one login per agent and is not set up here).
GRANT INSERT ON vps_metrics, health_checks, log_entries, agent_events TO observ_agent;
GRANT SELECT, INSERT, UPDATE ON agent_checkpoints TO observ_agent;
-- The agent compares the schema version with its own before it starts.
GRANT SELECT ON observ_schema_migrations TO observ_agent;
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
