-- 050: the app's own processes beside the host's figures (additive columns; the spec's stay as they are).
--
-- The agent finds the app's processes in its systemd unit's cgroup, or by working directory under the
-- release dir (app_source says which: 'unit:shop.service' or 'cwd:/opt/deployments/shop/current').
-- CPU is a share of the whole machine, like cpu_percent; app_restarts counts the times the main process
-- was replaced since the previous sample, so restarts over any range are a sum.

ALTER TABLE vps_metrics
  ADD COLUMN IF NOT EXISTS app_source      text,
  ADD COLUMN IF NOT EXISTS app_processes   integer,
  ADD COLUMN IF NOT EXISTS app_cpu_percent real,
  ADD COLUMN IF NOT EXISTS app_rss_mb      real,
  ADD COLUMN IF NOT EXISTS app_threads     integer,
  ADD COLUMN IF NOT EXISTS app_open_files  integer,
  ADD COLUMN IF NOT EXISTS app_restarts    integer;

-- "Restarts in the last 24 h" for every card reads only the rows that have any (a few), not a day of samples.
CREATE INDEX IF NOT EXISTS vps_metrics_app_restarts ON vps_metrics (vps_name, app_name, timestamp DESC)
  INCLUDE (app_restarts) WHERE app_restarts > 0;

ALTER TABLE vps_metrics_hourly
  ADD COLUMN IF NOT EXISTS app_cpu_avg        double precision,
  ADD COLUMN IF NOT EXISTS app_cpu_max        double precision,
  ADD COLUMN IF NOT EXISTS app_rss_avg        double precision,
  ADD COLUMN IF NOT EXISTS app_rss_max        double precision,
  ADD COLUMN IF NOT EXISTS app_threads_avg    double precision,
  ADD COLUMN IF NOT EXISTS app_threads_max    double precision,
  ADD COLUMN IF NOT EXISTS app_open_files_avg double precision,
  ADD COLUMN IF NOT EXISTS app_open_files_max double precision,
  ADD COLUMN IF NOT EXISTS app_restarts       bigint;

-- observ_rollup as in 010, folding the app columns too.
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
               net_rx_avg, net_tx_avg, app_cpu_avg, app_cpu_max, app_rss_avg, app_rss_max, app_threads_avg, app_threads_max,
               app_open_files_avg, app_open_files_max, app_restarts)
        SELECT date_trunc('hour', timestamp), vps_name, app_name, count(*),
               avg(cpu_percent), min(cpu_percent), max(cpu_percent),
               avg(memory_percent), min(memory_percent), max(memory_percent),
               avg(disk_percent), min(disk_percent), max(disk_percent),
               avg(load_avg_1m), min(load_avg_1m), max(load_avg_1m),
               avg(net_rx_bps), avg(net_tx_bps),
               avg(app_cpu_percent), max(app_cpu_percent), avg(app_rss_mb), max(app_rss_mb), avg(app_threads), max(app_threads),
               avg(app_open_files), max(app_open_files), sum(app_restarts)
          FROM vps_metrics
         WHERE timestamp >= v_range.lo AND timestamp < v_range.hi
         GROUP BY 1, 2, 3
        ON CONFLICT (vps_name, app_name, bucket) DO UPDATE SET
               samples = excluded.samples,
               cpu_avg = excluded.cpu_avg, cpu_min = excluded.cpu_min, cpu_max = excluded.cpu_max,
               memory_avg = excluded.memory_avg, memory_min = excluded.memory_min, memory_max = excluded.memory_max,
               disk_avg = excluded.disk_avg, disk_min = excluded.disk_min, disk_max = excluded.disk_max,
               load1_avg = excluded.load1_avg, load1_min = excluded.load1_min, load1_max = excluded.load1_max,
               net_rx_avg = excluded.net_rx_avg, net_tx_avg = excluded.net_tx_avg,
               app_cpu_avg = excluded.app_cpu_avg, app_cpu_max = excluded.app_cpu_max,
               app_rss_avg = excluded.app_rss_avg, app_rss_max = excluded.app_rss_max,
               app_threads_avg = excluded.app_threads_avg, app_threads_max = excluded.app_threads_max,
               app_open_files_avg = excluded.app_open_files_avg, app_open_files_max = excluded.app_open_files_max,
               app_restarts = excluded.app_restarts;
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

REVOKE ALL ON FUNCTION observ_rollup(interval) FROM PUBLIC;
