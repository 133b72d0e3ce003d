-- 020: indexes for the hub's read paths (log search filters and the live log tail).
-- Each costs some COPY throughput on log_entries; bench/log-search.ts measures the load rate with them.

-- Filter-only searches by level ("every FATAL of the week"): without it a rare level walks the
-- timestamp index through millions of rows.
CREATE INDEX IF NOT EXISTS log_entries_level_ts ON log_entries (level, timestamp DESC, id DESC);

-- JSONB context filters (ctx.user_id=42 becomes context @> '{"user_id": 42}').
CREATE INDEX IF NOT EXISTS log_entries_context ON log_entries USING gin (context jsonb_path_ops);

-- Live tail: the lines of one agent committed after the last id pushed. One agent's batches commit
-- in order, so its ids only grow; across agents they do not, hence the per-agent key.
CREATE INDEX IF NOT EXISTS log_entries_vps_app_id ON log_entries (vps_name, app_name, id);
