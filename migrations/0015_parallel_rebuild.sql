-- Rebuilding the rollups on every core (metrics::store::rebuild). metrics_rebuild() computed every lead's
-- contribution in one statement, on one backend (about two minutes at 1M leads while the other core idled),
-- then the daily grains with 3.7M speculative inserts (another two and a half minutes). Now the contributions
-- are computed in chunks of lead ids by several connections into a staging table (metrics_rebuild_stage,
-- metrics_rebuild_chunk), and metrics_rebuild_swap() replaces the rollups with them in one transaction:
-- readers see the old rollups or the new ones, never a mix. metrics_rebuild() stays the one-backend way.

-- The daily rollups at their three grains, from metrics_lead_contrib (which the caller has just filled).
CREATE FUNCTION metrics_rebuild_daily() RETURNS void LANGUAGE plpgsql AS $$
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
    CREATE UNIQUE INDEX metrics_daily_key ON metrics_daily
        (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos) NULLS NOT DISTINCT;
    CREATE INDEX metrics_daily_lo_idx ON metrics_daily (grain, kind, lo_id, day);
    CREATE INDEX metrics_daily_team_idx ON metrics_daily (grain, kind, team_id, day);
END
$$;

CREATE OR REPLACE FUNCTION metrics_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(727008, 0);
    LOCK TABLE metrics_lead_contrib IN EXCLUSIVE MODE;
    TRUNCATE metrics_lead_contrib, metrics_deltas, metrics_daily;
    DROP INDEX metrics_lead_contrib_lead_idx;
    INSERT INTO metrics_lead_contrib (lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8) SELECT lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM metrics_contributions;
    CREATE INDEX metrics_lead_contrib_lead_idx ON metrics_lead_contrib (lead_id);
    PERFORM metrics_rebuild_daily();
    UPDATE metrics_state SET value = now() WHERE key IN ('rebuilt_at', 'folded_at');
END
$$;

-- Staging for a parallel rebuild: the contribution rows of a chunk of leads (no index: read once, in full).
CREATE UNLOGGED TABLE metrics_rebuild_stage (
    run         uuid NOT NULL,
    lead_id     uuid NOT NULL,
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
COMMENT ON TABLE metrics_rebuild_stage IS
    'Contribution rows computed by a parallel rollup rebuild (run = that rebuild), until metrics_rebuild_swap.';

-- One chunk of a parallel rebuild: the contributions of leads with lo <= id < hi (hi NULL: no upper bound).
CREATE FUNCTION metrics_rebuild_chunk(p_run uuid, p_lo uuid, p_hi uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    INSERT INTO metrics_rebuild_stage (run, lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    SELECT p_run, lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8
    FROM metrics_contributions
    WHERE lead_id >= p_lo AND (p_hi IS NULL OR lead_id < p_hi);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- Ends a parallel rebuild in the caller's transaction, which took pg_advisory_xact_lock(727008, 0) and
-- LOCK TABLE metrics_lead_contrib IN EXCLUSIVE MODE before any chunk started (so no fact could commit since).
CREATE FUNCTION metrics_rebuild_swap(p_run uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE metrics_lead_contrib, metrics_deltas, metrics_daily;
    DROP INDEX metrics_lead_contrib_lead_idx;
    INSERT INTO metrics_lead_contrib (lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    SELECT lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM metrics_rebuild_stage WHERE run = p_run;
    -- Only one rebuild runs at a time (the caller holds the rebuild lock): rows of another run are leftovers
    -- of a rebuild that died before its swap.
    TRUNCATE metrics_rebuild_stage;
    CREATE INDEX metrics_lead_contrib_lead_idx ON metrics_lead_contrib (lead_id);
    PERFORM metrics_rebuild_daily();
    UPDATE metrics_state SET value = now() WHERE key IN ('rebuilt_at', 'folded_at');
END
$$;
