-- Issue 22: a batch of routed leads recomputes its metric contributions in one statement, not one plan run per
-- lead at commit. The routing transaction (and the transaction that creates a lead it will route) writes with
-- the triggers' switch off (loanfloor.metrics_triggers, migration 0013), then calls this once for every lead
-- of the batch, after its last write: each lead's contribution is computed from scratch, exactly as
-- metrics_recompute_lead computes it, so what the creating transaction left out is included.
CREATE FUNCTION metrics_recompute_lead_set(p_leads uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    -- Leads this transaction has computed already are left alone (as metrics_recompute_lead does).
    SELECT array_agg(DISTINCT x ORDER BY x) INTO ids FROM unnest(p_leads) AS x
    WHERE x IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM metrics_lead_contrib c WHERE c.lead_id = x AND c.tx = pg_current_xact_id());
    IF ids IS NULL THEN
        RETURN;
    END IF;
    -- The same per-lead locks as metrics_recompute_lead, taken in one order.
    PERFORM pg_advisory_xact_lock(727008, hashtext(x::text)) FROM unnest(ids) AS x ORDER BY x;
    WITH old AS (DELETE FROM metrics_lead_contrib WHERE lead_id = ANY(ids) RETURNING kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8),
    new AS (INSERT INTO metrics_lead_contrib (lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
            SELECT lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM metrics_contributions WHERE lead_id = ANY(ids)
            RETURNING kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    INSERT INTO metrics_deltas (kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8)
    FROM (SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, -n AS n, -r1 AS r1, -r2 AS r2, -r3 AS r3, -r4 AS r4, -r5 AS r5, -r6 AS r6, -r7 AS r7, -r8 AS r8, -called AS called, -called_twice AS called_twice, -contacted AS contacted, -attempts AS attempts, -attempts_to_contact AS attempts_to_contact, -talk_seconds AS talk_seconds, -volume_cents AS volume_cents, -cost_cents AS cost_cents, -h0 AS h0, -h1 AS h1, -h2 AS h2, -h3 AS h3, -h4 AS h4, -h5 AS h5, -h6 AS h6, -h7 AS h7, -h8 AS h8 FROM old UNION ALL SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM new) x
    GROUP BY kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos
    HAVING sum(n) <> 0 OR sum(r1) <> 0 OR sum(r2) <> 0 OR sum(r3) <> 0 OR sum(r4) <> 0 OR sum(r5) <> 0 OR sum(r6) <> 0 OR sum(r7) <> 0 OR sum(r8) <> 0 OR sum(called) <> 0 OR sum(called_twice) <> 0 OR sum(contacted) <> 0 OR sum(attempts) <> 0 OR sum(attempts_to_contact) <> 0 OR sum(talk_seconds) <> 0 OR sum(volume_cents) <> 0 OR sum(cost_cents) <> 0 OR sum(h0) <> 0 OR sum(h1) <> 0 OR sum(h2) <> 0 OR sum(h3) <> 0 OR sum(h4) <> 0 OR sum(h5) <> 0 OR sum(h6) <> 0 OR sum(h7) <> 0 OR sum(h8) <> 0;
END
$$;
ALTER FUNCTION metrics_recompute_lead_set(uuid[]) SET plan_cache_mode = force_generic_plan;
