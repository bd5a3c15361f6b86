-- Rebuilding the rollups, part of seeding 1M leads within 300 s (issue 22).
--
-- A parallel rebuild (metrics::store::rebuild_with) computed the contributions on every core, then one backend
-- summed every grain in metrics_rebuild_swap: at 200k leads 31 of its 34 s, while the other cores idled.
-- Now the workers also sum the grains, one grain per call (metrics_rebuild_grain: its days, then its months
-- from those days, in key order), into a staging table, and metrics_rebuild_swap_grains only copies the
-- staged rows in and builds the indexes. The sums are those of metrics_rebuild_daily: grains 0-3 from the
-- contributions, grain 4 (day and team) from the contributions too instead of from grain 2's rows (the same
-- sums), each month from its grain's days. The daily sums are added as int, which PostgreSQL adds in bigint
-- (sum(bigint) adds in numeric: the monthly step took 12.0 s with it and 5.0 s without at 200k leads);
-- metrics_rebuild_daily (the one-backend rebuild) does the same now. A team's day stays far below 2^31
-- seconds, cents or calls; a value beyond would fail the rebuild, not wrap.

CREATE UNLOGGED TABLE metrics_rebuild_daily_stage (
    run         uuid NOT NULL,
    grain       smallint NOT NULL,
    kind        text NOT NULL,
    day         date NOT NULL,
    team_id     uuid,
    lo_id       uuid,
    source      text,
    campaign    text,
    state       text,
    purpose     text,
    detail      text,
    reached_pos int NOT NULL,
    n bigint NOT NULL, r1 bigint NOT NULL, r2 bigint NOT NULL, r3 bigint NOT NULL, r4 bigint NOT NULL,
    r5 bigint NOT NULL, r6 bigint NOT NULL, r7 bigint NOT NULL, r8 bigint NOT NULL,
    called bigint NOT NULL, called_twice bigint NOT NULL, contacted bigint NOT NULL, attempts bigint NOT NULL,
    attempts_to_contact bigint NOT NULL, talk_seconds bigint NOT NULL, volume_cents bigint NOT NULL,
    cost_cents bigint NOT NULL,
    h0 bigint NOT NULL, h1 bigint NOT NULL, h2 bigint NOT NULL, h3 bigint NOT NULL, h4 bigint NOT NULL,
    h5 bigint NOT NULL, h6 bigint NOT NULL, h7 bigint NOT NULL, h8 bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE metrics_rebuild_daily_stage IS
    'Rollup rows summed by a parallel rebuild (run = that rebuild), until metrics_rebuild_swap_grains.';

-- One grain of a parallel rebuild (0-4: its days, then its months as grain + 10), from the contributions
-- the run staged. Returns the rows written.
CREATE FUNCTION metrics_rebuild_grain(p_run uuid, p_grain int) RETURNS bigint LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    keys text;
    grp text;
    written bigint;
BEGIN
    -- The grain's columns after team_id (lo_id, source, campaign, state, purpose; NULL where the grain has
    -- none), and what it groups by besides kind, day, team_id, detail and reached_pos (as in metrics_fold).
    CASE p_grain
        WHEN 0 THEN keys := 'lo_id, source, campaign, state, purpose'; grp := ', lo_id, source, campaign, state, purpose';
        WHEN 1 THEN keys := 'lo_id, NULL, NULL, NULL, NULL'; grp := ', lo_id';
        WHEN 2 THEN keys := 'NULL, source, NULL, NULL, NULL'; grp := ', source';
        WHEN 3 THEN keys := 'NULL, source, campaign, NULL, NULL'; grp := ', source, campaign';
        WHEN 4 THEN keys := 'NULL, NULL, NULL, NULL, NULL'; grp := '';
        ELSE RAISE EXCEPTION 'no rollup grain %', p_grain;
    END CASE;
    PERFORM set_config('work_mem', '1GB', true);
    -- Grain 0 has about one group per contribution row (2.6M of 2.7M at 1M leads): hashing them spilled and
    -- then sorted them again for the key order (78 s at 1M leads); one sort gives the groups in key order.
    -- (The staging table is never analysed, so the planner cannot know.)
    IF p_grain = 0 THEN
        PERFORM set_config('enable_hashagg', 'off', true);
    END IF;
    -- The days go in first, in key order (kind, day, team), then the months summed from them, in key order.
    EXECUTE format($q$
        WITH days AS (
            INSERT INTO metrics_rebuild_daily_stage (run, grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
            SELECT $1, %1$s, kind, day, team_id, %2$s, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int)
            FROM metrics_rebuild_stage WHERE run = $1
            GROUP BY kind, day, team_id%3$s, detail, reached_pos
            ORDER BY 3, 4, 5
            RETURNING *)
        INSERT INTO metrics_rebuild_daily_stage (run, grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT $1, %4$s, kind, date_trunc('month', day)::date, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int)
        FROM days
        GROUP BY kind, date_trunc('month', day), team_id, lo_id, source, campaign, state, purpose, detail, reached_pos
        ORDER BY 3, 4, 5$q$, p_grain, keys, grp, p_grain + 10) USING p_run;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- Ends a parallel rebuild whose workers staged the contributions and every grain, in the caller's
-- transaction (which took the rebuild lock and locked metrics_lead_contrib before any chunk started, as for
-- metrics_rebuild_swap): readers see the old rollups or the new ones, never a mix.
CREATE FUNCTION metrics_rebuild_swap_grains(p_run uuid) RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM set_config('maintenance_work_mem', '1GB', true);
    TRUNCATE metrics_lead_contrib, metrics_deltas, metrics_daily;
    DROP INDEX metrics_lead_contrib_lead_idx;
    DROP INDEX metrics_daily_key;
    DROP INDEX metrics_daily_lo_idx;
    DROP INDEX metrics_daily_team_idx;
    INSERT INTO metrics_lead_contrib (lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    SELECT lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM metrics_rebuild_stage WHERE run = p_run;
    -- In the order the workers wrote them (no sort of the whole table): each grain's days and months in key
    -- order, on pages of their own, so a range of days of one grain still sits on few pages (see 0046).
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    SELECT grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM metrics_rebuild_daily_stage WHERE run = p_run;
    -- Only one rebuild runs at a time (the caller holds the rebuild lock): rows of another run are leftovers
    -- of a rebuild that died before its swap.
    TRUNCATE metrics_rebuild_stage, metrics_rebuild_daily_stage;
    CREATE INDEX metrics_lead_contrib_lead_idx ON metrics_lead_contrib (lead_id);
    CREATE UNIQUE INDEX metrics_daily_key ON metrics_daily
        (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos) NULLS NOT DISTINCT;
    CREATE INDEX metrics_daily_lo_idx ON metrics_daily (grain, kind, lo_id, day);
    CREATE INDEX metrics_daily_team_idx ON metrics_daily (grain, kind, team_id, day);
    UPDATE metrics_state SET value = now() WHERE key IN ('rebuilt_at', 'folded_at');
END
$$;

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
    -- Grain 4 and the monthly grains add daily sums: as int too (0064; a team's day stays far below 2^31
    -- seconds, cents or calls, and a value beyond would fail the rebuild, not wrap).
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
    -- Grain 4: grain 2 without the source (day, team), summed from grain 2's rows.
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 4, kind, day, team_id, NULL, NULL, NULL, NULL, NULL, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int) FROM metrics_daily WHERE grain = 2 GROUP BY kind, day, team_id, detail, reached_pos ORDER BY 2, 3, 4;
    -- Grains 10-14: grains 0-4 by month (day = the month's first day), in key order too.
    INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT grain + 10, kind, date_trunc('month', day)::date, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n::int), sum(r1::int), sum(r2::int), sum(r3::int), sum(r4::int), sum(r5::int), sum(r6::int), sum(r7::int), sum(r8::int), sum(called::int), sum(called_twice::int), sum(contacted::int), sum(attempts::int), sum(attempts_to_contact::int), sum(talk_seconds::int), sum(volume_cents), sum(cost_cents::int), sum(h0::int), sum(h1::int), sum(h2::int), sum(h3::int), sum(h4::int), sum(h5::int), sum(h6::int), sum(h7::int), sum(h8::int)
        FROM metrics_daily WHERE grain < 10
        GROUP BY grain, kind, date_trunc('month', day), team_id, lo_id, source, campaign, state, purpose, detail, reached_pos
        ORDER BY 1, 2, 3, 4;
    CREATE UNIQUE INDEX metrics_daily_key ON metrics_daily
        (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos) NULLS NOT DISTINCT;
    CREATE INDEX metrics_daily_lo_idx ON metrics_daily (grain, kind, lo_id, day);
    CREATE INDEX metrics_daily_team_idx ON metrics_daily (grain, kind, team_id, day);
END
$function$;
