-- 041: one search box over message, logger and context. The stored tsvector `search` (001) held the
-- message only, so a word present only in a context value ("logout" in context.action) was never
-- found. It now also holds:
--   - the logger, whole and split at . _ / : - ("shop.http" is one host token to the parser, so
--     "shop" and "http" would otherwise not find it), first 1,024 characters;
--   - the context's keys, string values and numbers, each parsed on its own (jsonb_to_tsvector, so
--     JSON escapes such as \n do not glue words together). A context whose JSON text is over 64 KiB is
--     indexed by the first 64 KiB of that text instead: with the message's 256 KiB the tsvector stays
--     far below its 1 MB limit, so no line can make a COPY fail.
-- Same english configuration as the query (websearch_to_tsquery('english', q)), so stemming matches.
-- Measured (bench/ingest.ts, docs/hub.md): COPY into log_entries costs more per row, since each row
-- adds its context's words to the GIN index.
--
-- Replacing a generated column's expression rewrites log_entries and rebuilds the GIN index (minutes
-- per 10M rows). The DO block makes a second run (sql/schema.sql loaded again by hand) a no-op.
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = 'log_entries'::regclass AND a.attname = 'search' AND NOT a.attisdropped
       AND pg_get_expr(d.adbin, d.adrelid) LIKE '%jsonb_to_tsvector%') THEN
    ALTER TABLE log_entries DROP COLUMN IF EXISTS search; -- drops log_entries_search with it
    ALTER TABLE log_entries ADD COLUMN search tsvector GENERATED ALWAYS AS (
      to_tsvector('english'::regconfig, left(message, 262144))
      || to_tsvector('english'::regconfig, left(coalesce(logger, ''), 1024) || ' ' || translate(left(coalesce(logger, ''), 1024), '._/:-', '     '))
      || CASE
           WHEN context IS NULL THEN ''::tsvector
           WHEN octet_length(context::text) <= 65536 THEN jsonb_to_tsvector('english'::regconfig, context, '["string", "numeric", "key"]'::jsonb)
           ELSE to_tsvector('english'::regconfig, left(context::text, 65536))
         END) STORED;
  END IF;
END;
$$;
CREATE INDEX IF NOT EXISTS log_entries_search ON log_entries USING gin (search);
