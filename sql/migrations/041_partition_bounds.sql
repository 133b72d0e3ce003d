-- 041: observ_ensure_partitions is bounded and no longer executable by PUBLIC.
--
-- It runs as the owner (SECURITY DEFINER), so any role could call it, and with unbounded arguments
-- one call created hundreds of partitions, held their locks for seconds and ran the server out of
-- lock memory. Now: days_back 0..120 and days_ahead 0..14 for anyone (about 400 partitions at most,
-- well inside the default lock table); more than the defaults (2 back, 3 ahead) only for the owner;
-- EXECUTE only for the service roles (sql/roles.sql grants it), and a lock wait is bounded.

CREATE OR REPLACE FUNCTION observ_ensure_partitions(days_back integer DEFAULT 2, days_ahead integer DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '10s' AS $$
DECLARE
  t text;
  d date;
  lo timestamptz;
  hi timestamptz;
  part text;
  cols text;
  created integer := 0;
BEGIN
  IF days_back IS NULL OR days_back < 0 OR days_back > 120 THEN
    RAISE EXCEPTION 'observ_ensure_partitions: days_back must be from 0 to 120 (got %)', days_back USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 14 THEN
    RAISE EXCEPTION 'observ_ensure_partitions: days_ahead must be from 0 to 14 (got %)', days_ahead USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (days_back > 2 OR days_ahead > 3) AND NOT observ_session_is_owner() THEN
    RAISE EXCEPTION 'observ_ensure_partitions: only the schema owner may ask for more than the default 2 days back and 3 ahead (got %, %)',
      days_back, days_ahead USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('observ_ensure_partitions'));
  FOREACH t IN ARRAY ARRAY['vps_metrics', 'health_checks', 'log_entries'] LOOP
    IF to_regclass(t || '_default') IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t || '_default', t);
    END IF;
    FOR d IN SELECT g::date FROM generate_series((now() AT TIME ZONE 'UTC')::date - days_back,
                                                 (now() AT TIME ZONE 'UTC')::date + days_ahead, interval '1 day') g LOOP
      part := t || '_' || to_char(d, 'YYYYMMDD');
      CONTINUE WHEN to_regclass(part) IS NOT NULL;
      lo := (d::text || ' 00:00:00+00')::timestamptz;
      hi := ((d + 1)::text || ' 00:00:00+00')::timestamptz;
      SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) INTO cols
        FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = t AND is_generated = 'NEVER';
      EXECUTE format('CREATE TEMP TABLE observ_moving ON COMMIT DROP AS SELECT %s FROM %I WHERE timestamp >= %L AND timestamp < %L',
                     cols, t || '_default', lo, hi);
      EXECUTE format('DELETE FROM %I WHERE timestamp >= %L AND timestamp < %L', t || '_default', lo, hi);
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, t, lo, hi);
      EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM observ_moving', t, cols, cols);
      DROP TABLE observ_moving;
      created := created + 1;
    END LOOP;
  END LOOP;
  RETURN created;
END;
$$;

REVOKE ALL ON FUNCTION observ_ensure_partitions(integer, integer) FROM PUBLIC;
