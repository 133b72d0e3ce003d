-- 060: the fleet's latest state, one row per agent and one per health check, kept by the inserts
-- themselves, so the fleet overview reads O(agents) rows whatever the retention.
--
-- Before this, /api/fleet found each agent's newest sample with an index walk per agent over every
-- daily partition, and its checks' latest results from its newest 500 results: its cost grew with the
-- number of agents times the days kept. Statement triggers (with the inserted rows as a transition
-- table) now upsert the newest sample and each URL's newest result in the same transaction as the
-- rows: the agent's COPY, a replayed spool batch (an older row never replaces a newer one), or any
-- INSERT of the spec's own examples. The functions run as the schema owner, so the agents keep
-- INSERT on the data tables only.

-- The columns the fleet overview shows (typed: reading them costs a tenth of unpacking a jsonb row).
-- A column added to vps_metrics that the overview should show is added here and in the trigger.
CREATE TABLE IF NOT EXISTS fleet_latest_metrics (
  vps_name        text        NOT NULL,
  app_name        text        NOT NULL,
  timestamp       timestamptz NOT NULL,
  cpu_percent     real,
  memory_percent  real,
  memory_mb       real,
  disk_percent    real,
  disk_gb         real,
  load_avg_1m     real,
  load_avg_5m     real,
  load_avg_15m    real,
  app_source      text,
  app_processes   integer,
  app_cpu_percent real,
  app_rss_mb      real,
  app_threads     integer,
  app_open_files  integer,
  PRIMARY KEY (vps_name, app_name)
);

CREATE TABLE IF NOT EXISTS fleet_latest_checks (
  vps_name         text        NOT NULL,
  app_name         text        NOT NULL,
  url              text        NOT NULL,
  timestamp        timestamptz NOT NULL,
  status_code      integer,
  response_time_ms real,
  success          boolean     NOT NULL,
  error_message    text,
  PRIMARY KEY (vps_name, app_name, url)
);

CREATE OR REPLACE FUNCTION observ_fleet_latest_metrics()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO fleet_latest_metrics AS f (vps_name, app_name, timestamp, cpu_percent, memory_percent, memory_mb, disk_percent, disk_gb,
                                        load_avg_1m, load_avg_5m, load_avg_15m, app_source, app_processes, app_cpu_percent, app_rss_mb,
                                        app_threads, app_open_files)
  SELECT DISTINCT ON (n.vps_name, n.app_name) n.vps_name, n.app_name, n.timestamp, n.cpu_percent, n.memory_percent, n.memory_mb,
         n.disk_percent, n.disk_gb, n.load_avg_1m, n.load_avg_5m, n.load_avg_15m, n.app_source, n.app_processes, n.app_cpu_percent,
         n.app_rss_mb, n.app_threads, n.app_open_files
    FROM observ_new_metrics n
   ORDER BY n.vps_name, n.app_name, n.timestamp DESC
  ON CONFLICT (vps_name, app_name) DO UPDATE
     SET timestamp = EXCLUDED.timestamp, cpu_percent = EXCLUDED.cpu_percent, memory_percent = EXCLUDED.memory_percent,
         memory_mb = EXCLUDED.memory_mb, disk_percent = EXCLUDED.disk_percent, disk_gb = EXCLUDED.disk_gb,
         load_avg_1m = EXCLUDED.load_avg_1m, load_avg_5m = EXCLUDED.load_avg_5m, load_avg_15m = EXCLUDED.load_avg_15m,
         app_source = EXCLUDED.app_source, app_processes = EXCLUDED.app_processes, app_cpu_percent = EXCLUDED.app_cpu_percent,
         app_rss_mb = EXCLUDED.app_rss_mb, app_threads = EXCLUDED.app_threads, app_open_files = EXCLUDED.app_open_files
   WHERE EXCLUDED.timestamp >= f.timestamp;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION observ_fleet_latest_checks()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO fleet_latest_checks AS f (vps_name, app_name, url, timestamp, status_code, response_time_ms, success, error_message)
  SELECT DISTINCT ON (n.vps_name, n.app_name, n.url) n.vps_name, n.app_name, n.url, n.timestamp,
         n.status_code, n.response_time_ms, n.success, n.error_message
    FROM observ_new_checks n
   ORDER BY n.vps_name, n.app_name, n.url, n.timestamp DESC
  ON CONFLICT (vps_name, app_name, url) DO UPDATE
     SET timestamp = EXCLUDED.timestamp, status_code = EXCLUDED.status_code, response_time_ms = EXCLUDED.response_time_ms,
         success = EXCLUDED.success, error_message = EXCLUDED.error_message
   WHERE EXCLUDED.timestamp >= f.timestamp;
  RETURN NULL;
END;
$$;

-- The triggers first: creating them locks out inserts until this transaction commits, so the backfill
-- below (a statement with its own snapshot) sees every row committed before them.
DROP TRIGGER IF EXISTS observ_fleet_latest ON vps_metrics;
CREATE TRIGGER observ_fleet_latest AFTER INSERT ON vps_metrics REFERENCING NEW TABLE AS observ_new_metrics
  FOR EACH STATEMENT EXECUTE FUNCTION observ_fleet_latest_metrics();
DROP TRIGGER IF EXISTS observ_fleet_latest ON health_checks;
CREATE TRIGGER observ_fleet_latest AFTER INSERT ON health_checks REFERENCING NEW TABLE AS observ_new_checks
  FOR EACH STATEMENT EXECUTE FUNCTION observ_fleet_latest_checks();

INSERT INTO fleet_latest_metrics (vps_name, app_name, timestamp, cpu_percent, memory_percent, memory_mb, disk_percent, disk_gb,
                                  load_avg_1m, load_avg_5m, load_avg_15m, app_source, app_processes, app_cpu_percent, app_rss_mb,
                                  app_threads, app_open_files)
SELECT c.vps_name, c.app_name, m.timestamp, m.cpu_percent, m.memory_percent, m.memory_mb, m.disk_percent, m.disk_gb,
       m.load_avg_1m, m.load_avg_5m, m.load_avg_15m, m.app_source, m.app_processes, m.app_cpu_percent, m.app_rss_mb,
       m.app_threads, m.app_open_files
  FROM agent_checkpoints c
  CROSS JOIN LATERAL (SELECT * FROM vps_metrics v WHERE v.vps_name = c.vps_name AND v.app_name = c.app_name
                       ORDER BY v.timestamp DESC LIMIT 1) m
ON CONFLICT DO NOTHING;

-- The overview showed the checks seen in the last day; older ones would not be shown anyway.
INSERT INTO fleet_latest_checks (vps_name, app_name, url, timestamp, status_code, response_time_ms, success, error_message)
SELECT DISTINCT ON (vps_name, app_name, url) vps_name, app_name, url, timestamp, status_code, response_time_ms, success, error_message
  FROM health_checks
 WHERE timestamp > now() - interval '1 day'
 ORDER BY vps_name, app_name, url, timestamp DESC
ON CONFLICT DO NOTHING;

REVOKE ALL ON FUNCTION observ_fleet_latest_metrics() FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_fleet_latest_checks() FROM PUBLIC;
