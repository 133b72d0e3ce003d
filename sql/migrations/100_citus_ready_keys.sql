-- 100: every key of a per-agent table leads with vps_name, the column a Citus cluster would distribute
-- the agents' tables by (docs/scale.md, "Past one machine"): a distributed table's primary key and
-- unique constraints must include its distribution column.
--
-- agent_events was the one per-agent table keyed by id alone. It is small (an agent's restarts,
-- outages, spool troubles) and only ever read by time or by agent, so a key of (vps_name, id) costs
-- nothing today: the same one-index insert, and ids still come from the identity (no writer sets one).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'agent_events'::regclass AND contype = 'p'
              AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = 'agent_events'::regclass AND attname = 'id')]::int2[]) THEN
    ALTER TABLE agent_events DROP CONSTRAINT agent_events_pkey;
    ALTER TABLE agent_events ADD CONSTRAINT agent_events_pkey PRIMARY KEY (vps_name, id);
  END IF;
END $$;
