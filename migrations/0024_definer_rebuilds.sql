-- The application connects as a role that owns no table (see db::grant_app_role). Rebuilding derived tables
-- truncates them and drops and recreates their indexes, which only the owner may do, so these functions run
-- as their owner (SECURITY DEFINER), with a fixed search_path so a caller cannot redirect the names in them.
ALTER FUNCTION metrics_rebuild() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION metrics_rebuild_daily() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION metrics_rebuild_chunk(uuid, uuid, uuid) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION metrics_rebuild_swap(uuid) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION lo_open_leads_rebuild() SECURITY DEFINER SET search_path = public, pg_temp;

-- Fresh statistics after a rebuild (ANALYZE, too, is the owner's).
CREATE FUNCTION metrics_analyze() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
AS $$ ANALYZE metrics_daily $$;
