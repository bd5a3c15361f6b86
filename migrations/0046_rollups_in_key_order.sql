-- The rollup rows a figure reads sat one per page: metrics_daily filled in the rebuild's hash order and the
-- fold's arrival order, so the 17,744 rows of "leads by LO over 90 days" (grain 1) touched 17,982 pages
-- (37 ms at 1M leads; 9 ms with the same rows stored in key order). The table is rewritten in the order of
-- its key (grain, kind, day, team, LO, ...), the rebuild inserts in that order, and pages keep a fifth free so
-- the fold's updates of a day's row stay on its page (HOT updates; new days append in order anyway).
-- CLUSTER rewrites the table under an exclusive lock: a minute or so at 1M leads, once.
ALTER TABLE metrics_daily SET (fillfactor = 80);
CLUSTER metrics_daily USING metrics_daily_key;
ANALYZE metrics_daily;

CREATE OR REPLACE FUNCTION public.metrics_rebuild_daily()
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
BEGIN
    -- metrics_daily is empty here (the caller truncated it): rows go in with plain INSERTs (each GROUP BY
    -- yields unique keys, NULLs grouped as the NULLS NOT DISTINCT key compares them) and the indexes are built
    -- once at the end instead of updated row by row (2.6M speculative inserts into three indexes took most of
    -- the time). The index definitions are those of 0007_metrics.sql.
    -- One lead's figures fit an int (loan volume aside), and sum(int) adds in bigint where sum(bigint) adds in
    -- numeric: a third of the aggregation time.
    -- Rows go in ordered as the readers scan them (grain, kind, day, team), so a range of days of one
    -- grain sits on adjacent pages (see 0046).
    PERFORM set_config('work_mem', '1GB', true);
    PERFORM set_config('maintenance_work_mem', '1GB', true);
    DROP INDEX metrics_daily_key;
    DROP INDEX metrics_daily_lo_idx;
    DROP INDEX metrics_daily_team_idx;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 0, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos ORDER BY 2, 3, 4;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 1, kind, day, team_id, lo_id, NULL, NULL, NULL, NULL, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, lo_id, detail, reached_pos ORDER BY 2, 3, 4;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 2, kind, day, team_id, NULL, source, NULL, NULL, NULL, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, source, detail, reached_pos ORDER BY 2, 3, 4;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 3, kind, day, team_id, NULL, source, campaign, NULL, NULL, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, source, campaign, detail, reached_pos ORDER BY 2, 3, 4;
    CREATE UNIQUE INDEX metrics_daily_key ON metrics_daily
        (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos) NULLS NOT DISTINCT;
    CREATE INDEX metrics_daily_lo_idx ON metrics_daily (grain, kind, lo_id, day);
    CREATE INDEX metrics_daily_team_idx ON metrics_daily (grain, kind, team_id, day);
END
$function$;
