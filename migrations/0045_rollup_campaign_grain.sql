-- Grain 3 of the rollups: (day, team, source, campaign), with the lost reason / stage and the stage reached.
-- The dashboard's campaign ROI (and any figure grouped or filtered by campaign without LO, state or purpose)
-- read grain 0, about one row per lead per kind: 99 ms for a 20-LO team over 90 days at 1M leads. Grain 3 has
-- one row per team, source and campaign per day. Kept like the other grains: metrics_fold adds each delta to
-- it, metrics_rebuild_daily builds it from the leads' contributions, and the rows already folded are summed
-- from grain 0 here (grain 0 has every dimension, so the sums are exact).
INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
SELECT 3, kind, day, team_id, NULL, source, campaign, NULL, NULL, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8)
FROM metrics_daily WHERE grain = 0 GROUP BY kind, day, team_id, source, campaign, detail, reached_pos;

CREATE OR REPLACE FUNCTION public.metrics_fold(max_rows integer)
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
    moved bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(727008, 0) THEN
        RETURN 0;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS metrics_fold_batch (LIKE metrics_deltas) ON COMMIT DELETE ROWS;
    WITH gone AS (DELETE FROM metrics_deltas WHERE id IN (SELECT id FROM metrics_deltas ORDER BY id LIMIT max_rows)
                  RETURNING *)
    INSERT INTO metrics_fold_batch SELECT * FROM gone;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
        WITH d AS (SELECT * FROM metrics_fold_batch) INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 0, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8) FROM d GROUP BY kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos
        ON CONFLICT (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos)
        DO UPDATE SET n = metrics_daily.n + excluded.n, r1 = metrics_daily.r1 + excluded.r1, r2 = metrics_daily.r2 + excluded.r2, r3 = metrics_daily.r3 + excluded.r3, r4 = metrics_daily.r4 + excluded.r4, r5 = metrics_daily.r5 + excluded.r5, r6 = metrics_daily.r6 + excluded.r6, r7 = metrics_daily.r7 + excluded.r7, r8 = metrics_daily.r8 + excluded.r8, called = metrics_daily.called + excluded.called, called_twice = metrics_daily.called_twice + excluded.called_twice, contacted = metrics_daily.contacted + excluded.contacted, attempts = metrics_daily.attempts + excluded.attempts, attempts_to_contact = metrics_daily.attempts_to_contact + excluded.attempts_to_contact, talk_seconds = metrics_daily.talk_seconds + excluded.talk_seconds, volume_cents = metrics_daily.volume_cents + excluded.volume_cents, cost_cents = metrics_daily.cost_cents + excluded.cost_cents, h0 = metrics_daily.h0 + excluded.h0, h1 = metrics_daily.h1 + excluded.h1, h2 = metrics_daily.h2 + excluded.h2, h3 = metrics_daily.h3 + excluded.h3, h4 = metrics_daily.h4 + excluded.h4, h5 = metrics_daily.h5 + excluded.h5, h6 = metrics_daily.h6 + excluded.h6, h7 = metrics_daily.h7 + excluded.h7, h8 = metrics_daily.h8 + excluded.h8, updated_at = now();
        WITH d AS (SELECT * FROM metrics_fold_batch) INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 1, kind, day, team_id, lo_id, NULL, NULL, NULL, NULL, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8) FROM d GROUP BY kind, day, team_id, lo_id, detail, reached_pos
        ON CONFLICT (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos)
        DO UPDATE SET n = metrics_daily.n + excluded.n, r1 = metrics_daily.r1 + excluded.r1, r2 = metrics_daily.r2 + excluded.r2, r3 = metrics_daily.r3 + excluded.r3, r4 = metrics_daily.r4 + excluded.r4, r5 = metrics_daily.r5 + excluded.r5, r6 = metrics_daily.r6 + excluded.r6, r7 = metrics_daily.r7 + excluded.r7, r8 = metrics_daily.r8 + excluded.r8, called = metrics_daily.called + excluded.called, called_twice = metrics_daily.called_twice + excluded.called_twice, contacted = metrics_daily.contacted + excluded.contacted, attempts = metrics_daily.attempts + excluded.attempts, attempts_to_contact = metrics_daily.attempts_to_contact + excluded.attempts_to_contact, talk_seconds = metrics_daily.talk_seconds + excluded.talk_seconds, volume_cents = metrics_daily.volume_cents + excluded.volume_cents, cost_cents = metrics_daily.cost_cents + excluded.cost_cents, h0 = metrics_daily.h0 + excluded.h0, h1 = metrics_daily.h1 + excluded.h1, h2 = metrics_daily.h2 + excluded.h2, h3 = metrics_daily.h3 + excluded.h3, h4 = metrics_daily.h4 + excluded.h4, h5 = metrics_daily.h5 + excluded.h5, h6 = metrics_daily.h6 + excluded.h6, h7 = metrics_daily.h7 + excluded.h7, h8 = metrics_daily.h8 + excluded.h8, updated_at = now();
        WITH d AS (SELECT * FROM metrics_fold_batch) INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 2, kind, day, team_id, NULL, source, NULL, NULL, NULL, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8) FROM d GROUP BY kind, day, team_id, source, detail, reached_pos
        ON CONFLICT (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos)
        DO UPDATE SET n = metrics_daily.n + excluded.n, r1 = metrics_daily.r1 + excluded.r1, r2 = metrics_daily.r2 + excluded.r2, r3 = metrics_daily.r3 + excluded.r3, r4 = metrics_daily.r4 + excluded.r4, r5 = metrics_daily.r5 + excluded.r5, r6 = metrics_daily.r6 + excluded.r6, r7 = metrics_daily.r7 + excluded.r7, r8 = metrics_daily.r8 + excluded.r8, called = metrics_daily.called + excluded.called, called_twice = metrics_daily.called_twice + excluded.called_twice, contacted = metrics_daily.contacted + excluded.contacted, attempts = metrics_daily.attempts + excluded.attempts, attempts_to_contact = metrics_daily.attempts_to_contact + excluded.attempts_to_contact, talk_seconds = metrics_daily.talk_seconds + excluded.talk_seconds, volume_cents = metrics_daily.volume_cents + excluded.volume_cents, cost_cents = metrics_daily.cost_cents + excluded.cost_cents, h0 = metrics_daily.h0 + excluded.h0, h1 = metrics_daily.h1 + excluded.h1, h2 = metrics_daily.h2 + excluded.h2, h3 = metrics_daily.h3 + excluded.h3, h4 = metrics_daily.h4 + excluded.h4, h5 = metrics_daily.h5 + excluded.h5, h6 = metrics_daily.h6 + excluded.h6, h7 = metrics_daily.h7 + excluded.h7, h8 = metrics_daily.h8 + excluded.h8, updated_at = now();
        WITH d AS (SELECT * FROM metrics_fold_batch) INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 3, kind, day, team_id, NULL, source, campaign, NULL, NULL, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8) FROM d GROUP BY kind, day, team_id, source, campaign, detail, reached_pos
        ON CONFLICT (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos)
        DO UPDATE SET n = metrics_daily.n + excluded.n, r1 = metrics_daily.r1 + excluded.r1, r2 = metrics_daily.r2 + excluded.r2, r3 = metrics_daily.r3 + excluded.r3, r4 = metrics_daily.r4 + excluded.r4, r5 = metrics_daily.r5 + excluded.r5, r6 = metrics_daily.r6 + excluded.r6, r7 = metrics_daily.r7 + excluded.r7, r8 = metrics_daily.r8 + excluded.r8, called = metrics_daily.called + excluded.called, called_twice = metrics_daily.called_twice + excluded.called_twice, contacted = metrics_daily.contacted + excluded.contacted, attempts = metrics_daily.attempts + excluded.attempts, attempts_to_contact = metrics_daily.attempts_to_contact + excluded.attempts_to_contact, talk_seconds = metrics_daily.talk_seconds + excluded.talk_seconds, volume_cents = metrics_daily.volume_cents + excluded.volume_cents, cost_cents = metrics_daily.cost_cents + excluded.cost_cents, h0 = metrics_daily.h0 + excluded.h0, h1 = metrics_daily.h1 + excluded.h1, h2 = metrics_daily.h2 + excluded.h2, h3 = metrics_daily.h3 + excluded.h3, h4 = metrics_daily.h4 + excluded.h4, h5 = metrics_daily.h5 + excluded.h5, h6 = metrics_daily.h6 + excluded.h6, h7 = metrics_daily.h7 + excluded.h7, h8 = metrics_daily.h8 + excluded.h8, updated_at = now();
        TRUNCATE metrics_fold_batch;
        UPDATE metrics_state SET value = now() WHERE key = 'folded_at';
    END IF;
    RETURN moved;
END
$function$;

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
    PERFORM set_config('work_mem', '1GB', true);
    PERFORM set_config('maintenance_work_mem', '1GB', true);
    DROP INDEX metrics_daily_key;
    DROP INDEX metrics_daily_lo_idx;
    DROP INDEX metrics_daily_team_idx;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 0, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 1, kind, day, team_id, lo_id, NULL, NULL, NULL, NULL, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, lo_id, detail, reached_pos;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 2, kind, day, team_id, NULL, source, NULL, NULL, NULL, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, source, detail, reached_pos;
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 3, kind, day, team_id, NULL, source, campaign, NULL, NULL, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_lead_contrib GROUP BY kind, day, team_id, source, campaign, detail, reached_pos;
    CREATE UNIQUE INDEX metrics_daily_key ON metrics_daily
        (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos) NULLS NOT DISTINCT;
    CREATE INDEX metrics_daily_lo_idx ON metrics_daily (grain, kind, lo_id, day);
    CREATE INDEX metrics_daily_team_idx ON metrics_daily (grain, kind, team_id, day);
END
$function$;
