-- 010: hourly rollups of vps_metrics and health_checks, and the state of the hub's maintenance jobs.
--
-- Rollups are recomputed, never incremented: an hour is rebuilt from all its raw rows and upserted,
-- so running twice, or after late rows arrive (an agent replaying its spool after an outage), gives
-- the same result. Which hours to rebuild comes from `ingested_at` (when a row was stored, as opposed
-- to `timestamp`, when it was measured): every completed hour that received a row since the last run.

ALTER TABLE vps_metrics ADD COLUMN IF NOT EXISTS ingested_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE health_checks ADD COLUMN IF NOT EXISTS ingested_at timestamptz NOT NULL DEFAULT now();
-- BRIN: ingested_at follows the physical order of an append-only partition, so this index costs
-- almost nothing on insert and lets the hourly "what is new" query skip old blocks.
CREATE INDEX IF NOT EXISTS vps_metrics_ingested ON vps_metrics USING brin (ingested_at);
CREATE INDEX IF NOT EXISTS health_checks_ingested ON health_checks USING brin (ingested_at);

CREATE TABLE IF NOT EXISTS vps_metrics_hourly (
  bucket      timestamptz NOT NULL,
  vps_name    text NOT NULL,
  app_name    text NOT NULL,
  samples     integer NOT NULL,
  cpu_avg     double precision,
  cpu_min     double precision,
  cpu_max     double precision,
  memory_avg  double precision,
  memory_min  double precision,
  memory_max  double precision,
  disk_avg    double precision,
  disk_min    double precision,
  disk_max    double precision,
  load1_avg   double precision,
  load1_min   double precision,
  load1_max   double precision,
  net_rx_avg  double precision,
  net_tx_avg  double precision,
  PRIMARY KEY (vps_name, app_name, bucket)
);
CREATE INDEX IF NOT EXISTS vps_metrics_hourly_bucket ON vps_metrics_hourly (bucket);

CREATE TABLE IF NOT EXISTS health_checks_hourly (
  bucket      timestamptz NOT NULL,
  vps_name    text NOT NULL,
  app_name    text NOT NULL,
  url         text NOT NULL,
  checks      integer NOT NULL,
  failures    integer NOT NULL,
  latency_avg double precision,
  latency_p50 double precision,
  latency_p95 double precision,
  latency_p99 double precision,
  latency_max double precision,
  PRIMARY KEY (vps_name, app_name, url, bucket)
);
CREATE INDEX IF NOT EXISTS health_checks_hourly_bucket ON health_checks_hourly (bucket);

-- One row per maintenance job ('retention', 'rollup', 'partitions') and per rollup source
-- ('rollup:vps_metrics', 'rollup:health_checks', whose watermark is the ingested_at already folded).
CREATE TABLE IF NOT EXISTS observ_maintenance (
  job          text PRIMARY KEY,
  last_run_at  timestamptz,
  last_ok_at   timestamptz,
  last_error   text,
  last_result  jsonb,
  watermark    timestamptz
);

-- Records a job's run; SECURITY DEFINER so a read-only hub role can keep the schedule.
CREATE OR REPLACE FUNCTION observ_maintenance_record(p_job text, p_ok boolean, p_result jsonb DEFAULT NULL, p_error text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF p_job NOT IN ('retention', 'rollup', 'partitions') THEN
    RAISE EXCEPTION 'unknown maintenance job %', p_job USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO observ_maintenance AS m (job, last_run_at, last_ok_at, last_error, last_result)
  VALUES (p_job, now(), CASE WHEN p_ok THEN now() END, p_error, p_result)
  ON CONFLICT (job) DO UPDATE
    SET last_run_at = now(),
        last_ok_at = CASE WHEN p_ok THEN now() ELSE m.last_ok_at END,
        last_error = p_error,
        last_result = coalesce(p_result, m.last_result);
END;
$$;

-- Rebuilds the hourly rows of every completed hour (UTC) that received raw rows since the last run.
-- p_slack re-reads rows stored a little before the watermark: ingested_at is the writer's
-- transaction start, and a transaction that started before our run may commit after it.
CREATE OR REPLACE FUNCTION observ_rollup(p_slack interval DEFAULT interval '10 minutes')
RETURNS TABLE (source text, ranges integer, hours integer, rows_upserted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET "TimeZone" = 'UTC' AS $$
#variable_conflict use_column
DECLARE
  v_source text;
  v_mark timestamptz;
  v_since timestamptz;
  v_current_hour timestamptz := date_trunc('hour', now());
  v_pending timestamptz;
  v_range record;
  v_ranges integer;
  v_hours integer;
  v_rows bigint;
  v_n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('observ_rollup'));
  FOREACH v_source IN ARRAY ARRAY['vps_metrics', 'health_checks'] LOOP
    SELECT watermark INTO v_mark FROM observ_maintenance WHERE job = 'rollup:' || v_source;
    v_since := coalesce(v_mark - p_slack, '-infinity'::timestamptz);
    -- Rows of the current (incomplete) hour are not folded yet: keep the watermark before the first
    -- of them so the run after the hour completes sees them again. Rows stamped more than a day
    -- ahead (a clock far off) would hold the watermark back for days: they are left out of this.
    EXECUTE format('SELECT min(ingested_at) FROM %I WHERE ingested_at > $1 AND timestamp >= $2 AND timestamp < $2 + interval ''1 day''', v_source)
      INTO v_pending USING v_since, v_current_hour;
    v_ranges := 0; v_hours := 0; v_rows := 0;
    -- Dirty hours, merged into runs of consecutive hours (gaps and islands): one aggregate per run.
    FOR v_range IN EXECUTE format($q$
        WITH dirty AS (
          SELECT DISTINCT date_trunc('hour', timestamp) AS h FROM %I
           WHERE ingested_at > $1 AND timestamp < $2
        ), islands AS (
          SELECT h, h - (row_number() OVER (ORDER BY h)) * interval '1 hour' AS grp FROM dirty
        )
        SELECT min(h) AS lo, max(h) + interval '1 hour' AS hi, count(*)::integer AS n
          FROM islands GROUP BY grp ORDER BY 1$q$, v_source)
      USING v_since, v_current_hour
    LOOP
      IF v_source = 'vps_metrics' THEN
        INSERT INTO vps_metrics_hourly AS r (bucket, vps_name, app_name, samples, cpu_avg, cpu_min, cpu_max,
               memory_avg, memory_min, memory_max, disk_avg, disk_min, disk_max, load1_avg, load1_min, load1_max,
               net_rx_avg, net_tx_avg)
        SELECT date_trunc('hour', timestamp), vps_name, app_name, count(*),
               avg(cpu_percent), min(cpu_percent), max(cpu_percent),
               avg(memory_percent), min(memory_percent), max(memory_percent),
               avg(disk_percent), min(disk_percent), max(disk_percent),
               avg(load_avg_1m), min(load_avg_1m), max(load_avg_1m),
               avg(net_rx_bps), avg(net_tx_bps)
          FROM vps_metrics
         WHERE timestamp >= v_range.lo AND timestamp < v_range.hi
         GROUP BY 1, 2, 3
        ON CONFLICT (vps_name, app_name, bucket) DO UPDATE SET
               samples = excluded.samples,
               cpu_avg = excluded.cpu_avg, cpu_min = excluded.cpu_min, cpu_max = excluded.cpu_max,
               memory_avg = excluded.memory_avg, memory_min = excluded.memory_min, memory_max = excluded.memory_max,
               disk_avg = excluded.disk_avg, disk_min = excluded.disk_min, disk_max = excluded.disk_max,
               load1_avg = excluded.load1_avg, load1_min = excluded.load1_min, load1_max = excluded.load1_max,
               net_rx_avg = excluded.net_rx_avg, net_tx_avg = excluded.net_tx_avg;
      ELSE
        -- Latency figures cover the checks that recorded a response time (nulls are ignored).
        INSERT INTO health_checks_hourly AS r (bucket, vps_name, app_name, url, checks, failures,
               latency_avg, latency_p50, latency_p95, latency_p99, latency_max)
        SELECT bucket, vps_name, app_name, url, checks, failures, latency_avg, pct[1], pct[2], pct[3], latency_max
          FROM (SELECT date_trunc('hour', timestamp) AS bucket, vps_name, app_name, url,
                       count(*)::integer AS checks, (count(*) FILTER (WHERE NOT success))::integer AS failures,
                       avg(response_time_ms)::double precision AS latency_avg,
                       percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[]) WITHIN GROUP (ORDER BY response_time_ms) AS pct,
                       max(response_time_ms)::double precision AS latency_max
                  FROM health_checks
                 WHERE timestamp >= v_range.lo AND timestamp < v_range.hi
                 GROUP BY 1, 2, 3, 4) s
        ON CONFLICT (vps_name, app_name, url, bucket) DO UPDATE SET
               checks = excluded.checks, failures = excluded.failures,
               latency_avg = excluded.latency_avg, latency_p50 = excluded.latency_p50,
               latency_p95 = excluded.latency_p95, latency_p99 = excluded.latency_p99,
               latency_max = excluded.latency_max;
      END IF;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      v_ranges := v_ranges + 1;
      v_hours := v_hours + v_range.n;
      v_rows := v_rows + v_n;
    END LOOP;
    INSERT INTO observ_maintenance (job, last_run_at, last_ok_at, watermark)
    VALUES ('rollup:' || v_source, now(), now(), least(now(), v_pending))
    ON CONFLICT (job) DO UPDATE SET last_run_at = now(), last_ok_at = now(), watermark = excluded.watermark;
    source := v_source; ranges := v_ranges; hours := v_hours; rows_upserted := v_rows;
    RETURN NEXT;
  END LOOP;
END;
$$;

-- Only the schema owner and the roles granted in sql/roles.sql run maintenance.
REVOKE ALL ON FUNCTION observ_maintenance_record(text, boolean, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION observ_rollup(interval) FROM PUBLIC;
