-- 011: retention per table. Daily partitions wholly past retention are detached and dropped
-- (measured: 27 ms, against 139 ms of DELETE plus 0.8 s of VACUUM per day of logs); rows past
-- retention in a table's DEFAULT partition, and in unpartitioned tables, are deleted.
-- Retention is at day granularity: a row is kept at least keep_days, and gone within a day after.
-- The spec's `DELETE FROM … WHERE timestamp < NOW() - INTERVAL '…'` statements keep working.

CREATE TABLE IF NOT EXISTS observ_retention (
  table_name  text PRIMARY KEY,
  time_column text NOT NULL,
  keep_days   integer NOT NULL CHECK (keep_days >= 1)
);
INSERT INTO observ_retention (table_name, time_column, keep_days) VALUES
  ('vps_metrics', 'timestamp', 90),
  ('health_checks', 'timestamp', 90),
  ('log_entries', 'timestamp', 30),
  ('agent_events', 'timestamp', 90),
  ('vps_metrics_hourly', 'bucket', 730),
  ('health_checks_hourly', 'bucket', 730)
ON CONFLICT (table_name) DO NOTHING;

-- One table's retention. Returns what was done (or, with p_dry_run, what would be done).
-- Actions: drop_partition, delete_default (rows past retention in <table>_default), delete
-- (unpartitioned table), busy (a partition whose lock was not granted within lock_timeout: the
-- next run takes it). SECURITY DEFINER so a read-only hub role can run the configured policy, and
-- nothing else: the policy itself can only be changed by the owner.
CREATE OR REPLACE FUNCTION observ_apply_retention(p_table text, p_dry_run boolean DEFAULT false)
RETURNS TABLE (table_name text, action text, target text, row_count bigint, bytes bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '5s' SET "TimeZone" = 'UTC' AS $$
#variable_conflict use_column
DECLARE
  v_policy observ_retention%ROWTYPE;
  v_cutoff timestamptz;
  v_part record;
  v_n bigint;
  v_default text;
BEGIN
  SELECT * INTO v_policy FROM observ_retention r WHERE r.table_name = p_table;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no retention policy for table %', p_table USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF to_regclass(p_table) IS NULL THEN
    RETURN;
  END IF;
  v_cutoff := now() - make_interval(days => v_policy.keep_days);
  table_name := p_table;

  IF (SELECT relkind FROM pg_class WHERE oid = to_regclass(p_table)) = 'p' THEN
    FOR v_part IN
      SELECT c.relname AS name, c.oid,
             substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$TO \('([^']+)'\)$re$)::timestamptz AS upper_bound,
             c.reltuples
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = to_regclass(p_table)
         AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
       ORDER BY 3
    LOOP
      CONTINUE WHEN v_part.upper_bound IS NULL OR v_part.upper_bound > v_cutoff;
      action := 'drop_partition'; target := v_part.name;
      row_count := CASE WHEN v_part.reltuples >= 0 THEN v_part.reltuples::bigint END;
      bytes := pg_total_relation_size(v_part.oid);
      IF NOT p_dry_run THEN
        BEGIN
          EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', p_table, v_part.name);
          EXECUTE format('DROP TABLE %I', v_part.name);
        EXCEPTION WHEN lock_not_available THEN
          action := 'busy';
        END;
      END IF;
      RETURN NEXT;
    END LOOP;
    SELECT c.relname INTO v_default
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass(p_table) AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
    IF v_default IS NOT NULL THEN
      IF p_dry_run THEN
        EXECUTE format('SELECT count(*) FROM %I WHERE %I < $1', v_default, v_policy.time_column) INTO v_n USING v_cutoff;
      ELSE
        EXECUTE format('DELETE FROM %I WHERE %I < $1', v_default, v_policy.time_column) USING v_cutoff;
        GET DIAGNOSTICS v_n = ROW_COUNT;
      END IF;
      IF v_n > 0 THEN
        action := 'delete_default'; target := v_default; row_count := v_n; bytes := NULL;
        RETURN NEXT;
      END IF;
    END IF;
  ELSE
    IF p_dry_run THEN
      EXECUTE format('SELECT count(*) FROM %I WHERE %I < $1', p_table, v_policy.time_column) INTO v_n USING v_cutoff;
    ELSE
      EXECUTE format('DELETE FROM %I WHERE %I < $1', p_table, v_policy.time_column) USING v_cutoff;
      GET DIAGNOSTICS v_n = ROW_COUNT;
    END IF;
    IF v_n > 0 THEN
      action := 'delete'; target := p_table; row_count := v_n; bytes := NULL;
      RETURN NEXT;
    END IF;
  END IF;
END;
$$;

REVOKE ALL ON FUNCTION observ_apply_retention(text, boolean) FROM PUBLIC;
