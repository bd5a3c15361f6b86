-- Metrics: incremental rollups for the dashboards.
--
-- Design: every fact (leads, stage_changes, assignments, activities) fires a trigger IN THE SAME TRANSACTION
-- (deferred to its commit, once per lead per transaction) that recomputes the affected lead's contribution rows from the base tables (view metrics_contributions,
-- the one SQL statement of the definitions), compares them with the stored contribution of that lead
-- (metrics_lead_contrib) and appends the difference to metrics_deltas (append-only: no hot rows, so
-- concurrent intake does not serialise on a shared counter row). metrics_fold() moves deltas into
-- metrics_daily at three grains in one transaction. Readers sum metrics_daily + metrics_deltas in one
-- statement, so answers are exact at any moment (no staleness), whether or not a fold has run.
-- A per-lead advisory lock serialises recomputation of one lead, so concurrent facts for the same lead
-- cannot both miss each other.
-- Bulk loads may SET loanfloor.metrics_triggers = 'off' and then call metrics_rebuild().

INSERT INTO settings (key, value) VALUES ('metrics_timezone', '"America/Chicago"') ON CONFLICT (key) DO NOTHING;

CREATE FUNCTION metrics_won_pos(stage text) RETURNS int IMMUTABLE PARALLEL SAFE LANGUAGE sql AS $$
    SELECT array_position(ARRAY['new', 'contacted', 'prequalified', 'application', 'processing', 'underwriting',
                                'clear_to_close', 'funded']::text[], stage)
$$;

-- Speed-to-lead buckets (seconds, upper bounds): 60, 120, 300, 600, 1800, 3600, 14400, 86400, more.
CREATE FUNCTION metrics_latency_bucket(secs double precision) RETURNS int IMMUTABLE PARALLEL SAFE LANGUAGE sql AS $$
    SELECT CASE WHEN secs <= 60 THEN 0 WHEN secs <= 120 THEN 1 WHEN secs <= 300 THEN 2 WHEN secs <= 600 THEN 3
                WHEN secs <= 1800 THEN 4 WHEN secs <= 3600 THEN 5 WHEN secs <= 14400 THEN 6
                WHEN secs <= 86400 THEN 7 ELSE 8 END
$$;

CREATE FUNCTION metrics_tz() RETURNS text STABLE LANGUAGE sql AS $$
    SELECT value #>> '{}' FROM settings WHERE key = 'metrics_timezone'
$$;

-- One lead's contribution rows (kind 'lead', 'assignment', 'lost', 'open'), as last computed.
CREATE TABLE metrics_lead_contrib (
    lead_id     uuid NOT NULL,
    -- The transaction that computed these rows: a lead is recomputed once per transaction.
    tx          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind        text NOT NULL,
    day         date NOT NULL,
    team_id     uuid,
    lo_id       uuid,
    source      text,
    campaign    text,
    state       text,
    purpose     text,
    detail      text,
    reached_pos int NOT NULL DEFAULT 0,
    n bigint NOT NULL DEFAULT 0,
    r1 bigint NOT NULL DEFAULT 0,
    r2 bigint NOT NULL DEFAULT 0,
    r3 bigint NOT NULL DEFAULT 0,
    r4 bigint NOT NULL DEFAULT 0,
    r5 bigint NOT NULL DEFAULT 0,
    r6 bigint NOT NULL DEFAULT 0,
    r7 bigint NOT NULL DEFAULT 0,
    r8 bigint NOT NULL DEFAULT 0,
    called bigint NOT NULL DEFAULT 0,
    called_twice bigint NOT NULL DEFAULT 0,
    contacted bigint NOT NULL DEFAULT 0,
    attempts bigint NOT NULL DEFAULT 0,
    attempts_to_contact bigint NOT NULL DEFAULT 0,
    talk_seconds bigint NOT NULL DEFAULT 0,
    volume_cents bigint NOT NULL DEFAULT 0,
    cost_cents bigint NOT NULL DEFAULT 0,
    h0 bigint NOT NULL DEFAULT 0,
    h1 bigint NOT NULL DEFAULT 0,
    h2 bigint NOT NULL DEFAULT 0,
    h3 bigint NOT NULL DEFAULT 0,
    h4 bigint NOT NULL DEFAULT 0,
    h5 bigint NOT NULL DEFAULT 0,
    h6 bigint NOT NULL DEFAULT 0,
    h7 bigint NOT NULL DEFAULT 0,
    h8 bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX metrics_lead_contrib_lead_idx ON metrics_lead_contrib (lead_id);

-- Not-yet-folded differences (fine grain).
CREATE TABLE metrics_deltas (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    day         date NOT NULL,
    team_id     uuid,
    lo_id       uuid,
    source      text,
    campaign    text,
    state       text,
    purpose     text,
    detail      text,
    reached_pos int NOT NULL DEFAULT 0,
    n bigint NOT NULL DEFAULT 0,
    r1 bigint NOT NULL DEFAULT 0,
    r2 bigint NOT NULL DEFAULT 0,
    r3 bigint NOT NULL DEFAULT 0,
    r4 bigint NOT NULL DEFAULT 0,
    r5 bigint NOT NULL DEFAULT 0,
    r6 bigint NOT NULL DEFAULT 0,
    r7 bigint NOT NULL DEFAULT 0,
    r8 bigint NOT NULL DEFAULT 0,
    called bigint NOT NULL DEFAULT 0,
    called_twice bigint NOT NULL DEFAULT 0,
    contacted bigint NOT NULL DEFAULT 0,
    attempts bigint NOT NULL DEFAULT 0,
    attempts_to_contact bigint NOT NULL DEFAULT 0,
    talk_seconds bigint NOT NULL DEFAULT 0,
    volume_cents bigint NOT NULL DEFAULT 0,
    cost_cents bigint NOT NULL DEFAULT 0,
    h0 bigint NOT NULL DEFAULT 0,
    h1 bigint NOT NULL DEFAULT 0,
    h2 bigint NOT NULL DEFAULT 0,
    h3 bigint NOT NULL DEFAULT 0,
    h4 bigint NOT NULL DEFAULT 0,
    h5 bigint NOT NULL DEFAULT 0,
    h6 bigint NOT NULL DEFAULT 0,
    h7 bigint NOT NULL DEFAULT 0,
    h8 bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Daily rollups. grain 0: every dimension; grain 1: (day, team, lo); grain 2: (day, team, source).
-- detail = lost reason (kind 'lost') or current stage (kind 'open'); reached_pos = furthest won-path stage
-- reached before the loss (kind 'lost').
CREATE TABLE metrics_daily (
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
    reached_pos int NOT NULL DEFAULT 0,
    n bigint NOT NULL DEFAULT 0,
    r1 bigint NOT NULL DEFAULT 0,
    r2 bigint NOT NULL DEFAULT 0,
    r3 bigint NOT NULL DEFAULT 0,
    r4 bigint NOT NULL DEFAULT 0,
    r5 bigint NOT NULL DEFAULT 0,
    r6 bigint NOT NULL DEFAULT 0,
    r7 bigint NOT NULL DEFAULT 0,
    r8 bigint NOT NULL DEFAULT 0,
    called bigint NOT NULL DEFAULT 0,
    called_twice bigint NOT NULL DEFAULT 0,
    contacted bigint NOT NULL DEFAULT 0,
    attempts bigint NOT NULL DEFAULT 0,
    attempts_to_contact bigint NOT NULL DEFAULT 0,
    talk_seconds bigint NOT NULL DEFAULT 0,
    volume_cents bigint NOT NULL DEFAULT 0,
    cost_cents bigint NOT NULL DEFAULT 0,
    h0 bigint NOT NULL DEFAULT 0,
    h1 bigint NOT NULL DEFAULT 0,
    h2 bigint NOT NULL DEFAULT 0,
    h3 bigint NOT NULL DEFAULT 0,
    h4 bigint NOT NULL DEFAULT 0,
    h5 bigint NOT NULL DEFAULT 0,
    h6 bigint NOT NULL DEFAULT 0,
    h7 bigint NOT NULL DEFAULT 0,
    h8 bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX metrics_daily_key ON metrics_daily
    (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos) NULLS NOT DISTINCT;
CREATE INDEX metrics_daily_lo_idx ON metrics_daily (grain, kind, lo_id, day);
CREATE INDEX metrics_daily_team_idx ON metrics_daily (grain, kind, team_id, day);

CREATE TABLE metrics_state (
    key         text PRIMARY KEY,
    value       timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO metrics_state (key, value) VALUES ('rebuilt_at', NULL), ('folded_at', NULL);

-- THE definitions, as contribution rows per lead, computed straight from the base tables.
CREATE VIEW metrics_contributions AS
-- Team cohort: one row per lead, keyed by its creation day (org time zone) and current team/LO/attributes.
SELECT l.id AS lead_id, 'lead'::text AS kind, (l.created_at AT TIME ZONE metrics_tz())::date AS day,
       l.team_id, l.assigned_lo_id AS lo_id, l.source, l.campaign, l.property_state AS state,
       l.loan_purpose AS purpose, NULL::text AS detail, 0 AS reached_pos,
       1::bigint AS n,
       (sc.maxpos >= 1)::int::bigint AS r1,
       (sc.maxpos >= 2)::int::bigint AS r2,
       (sc.maxpos >= 3)::int::bigint AS r3,
       (sc.maxpos >= 4)::int::bigint AS r4,
       (sc.maxpos >= 5)::int::bigint AS r5,
       (sc.maxpos >= 6)::int::bigint AS r6,
       (sc.maxpos >= 7)::int::bigint AS r7,
       (sc.maxpos >= 8)::int::bigint AS r8,
       (coalesce(k.attempts, 0) > 0)::int::bigint AS called,
       (coalesce(k.attempts, 0) >= 2)::int::bigint AS called_twice,
       (coalesce(k.contacts, 0) > 0)::int::bigint AS contacted,
       coalesce(k.attempts, 0)::bigint AS attempts,
       coalesce(k.to_contact, 0)::bigint AS attempts_to_contact,
       coalesce(k.talk, 0)::bigint AS talk_seconds,
       CASE WHEN sc.maxpos >= 8 THEN coalesce(l.loan_amount_cents, 0) ELSE 0 END::bigint AS volume_cents,
       l.cost_cents::bigint AS cost_cents,
       0::bigint AS h0, 0::bigint AS h1, 0::bigint AS h2, 0::bigint AS h3, 0::bigint AS h4, 0::bigint AS h5, 0::bigint AS h6, 0::bigint AS h7, 0::bigint AS h8
FROM leads l
CROSS JOIN LATERAL (SELECT greatest(1, max(metrics_won_pos(s.to_stage))) AS maxpos
                    FROM stage_changes s WHERE s.lead_id = l.id) sc
LEFT JOIN LATERAL (
        SELECT count(*) AS attempts,
               count(*) FILTER (WHERE c.outcome = 'contacted') AS contacts,
               coalesce(sum(c.talk_seconds), 0) AS talk,
               min(c.occurred_at) AS first_call,
               (SELECT count(*) FROM activities c2
                 WHERE c2.lead_id = l.id AND c2.kind = 'call' AND true
                   AND (c2.occurred_at, c2.id) <= (fc.occurred_at, fc.id)) AS to_contact
        FROM activities c
        LEFT JOIN LATERAL (SELECT c3.occurred_at, c3.id FROM activities c3
                           WHERE c3.lead_id = l.id AND c3.kind = 'call' AND c3.outcome = 'contacted'
                             AND true
                           ORDER BY c3.occurred_at, c3.id LIMIT 1) fc ON true
        WHERE c.lead_id = l.id AND c.kind = 'call' AND true
        GROUP BY fc.occurred_at, fc.id
    ) k ON true
UNION ALL
-- Per-LO cohort: one row per assignment to an LO; stages, calls and talk count only while assigned to them.
SELECT l.id, 'assignment', (a.created_at AT TIME ZONE metrics_tz())::date,
       coalesce(a.to_team_id, l.team_id), a.to_lo_id, l.source, l.campaign, l.property_state, l.loan_purpose,
       NULL, 0,
       1,
       (sc.maxpos >= 1)::int::bigint AS r1,
       (sc.maxpos >= 2)::int::bigint AS r2,
       (sc.maxpos >= 3)::int::bigint AS r3,
       (sc.maxpos >= 4)::int::bigint AS r4,
       (sc.maxpos >= 5)::int::bigint AS r5,
       (sc.maxpos >= 6)::int::bigint AS r6,
       (sc.maxpos >= 7)::int::bigint AS r7,
       (sc.maxpos >= 8)::int::bigint AS r8,
       (coalesce(k.attempts, 0) > 0)::int::bigint,
       (coalesce(k.attempts, 0) >= 2)::int::bigint,
       (coalesce(k.contacts, 0) > 0)::int::bigint,
       coalesce(k.attempts, 0)::bigint,
       coalesce(k.to_contact, 0)::bigint,
       coalesce(k.talk, 0)::bigint,
       CASE WHEN sc.maxpos >= 8 THEN coalesce(l.loan_amount_cents, 0) ELSE 0 END::bigint,
       0,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 0 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 1 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 2 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 3 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 4 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 5 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 6 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 7 AND k.first_call IS NOT NULL)::int::bigint,
       (metrics_latency_bucket(extract(epoch FROM k.first_call - a.created_at)) = 8 AND k.first_call IS NOT NULL)::int::bigint
FROM assignments a
JOIN leads l ON l.id = a.lead_id
CROSS JOIN LATERAL (SELECT (SELECT a2.created_at FROM assignments a2
                            WHERE a2.lead_id = a.lead_id AND (a2.created_at, a2.id) > (a.created_at, a.id)
                            ORDER BY a2.created_at, a2.id LIMIT 1) AS until) w
CROSS JOIN LATERAL (SELECT greatest(1, max(metrics_won_pos(s.to_stage))) AS maxpos
                    FROM stage_changes s
                    WHERE s.lead_id = l.id AND s.lo_id = a.to_lo_id AND s.created_at >= a.created_at
                      AND (w.until IS NULL OR s.created_at < w.until)) sc
LEFT JOIN LATERAL (
        SELECT count(*) AS attempts,
               count(*) FILTER (WHERE c.outcome = 'contacted') AS contacts,
               coalesce(sum(c.talk_seconds), 0) AS talk,
               min(c.occurred_at) AS first_call,
               (SELECT count(*) FROM activities c2
                 WHERE c2.lead_id = l.id AND c2.kind = 'call' AND c2.actor_id = a.to_lo_id AND c2.occurred_at >= a.created_at AND (w.until IS NULL OR c2.occurred_at < w.until)
                   AND (c2.occurred_at, c2.id) <= (fc.occurred_at, fc.id)) AS to_contact
        FROM activities c
        LEFT JOIN LATERAL (SELECT c3.occurred_at, c3.id FROM activities c3
                           WHERE c3.lead_id = l.id AND c3.kind = 'call' AND c3.outcome = 'contacted'
                             AND c3.actor_id = a.to_lo_id AND c3.occurred_at >= a.created_at AND (w.until IS NULL OR c3.occurred_at < w.until)
                           ORDER BY c3.occurred_at, c3.id LIMIT 1) fc ON true
        WHERE c.lead_id = l.id AND c.kind = 'call' AND c.actor_id = a.to_lo_id AND c.occurred_at >= a.created_at AND (w.until IS NULL OR c.occurred_at < w.until)
        GROUP BY fc.occurred_at, fc.id
    ) k ON true
WHERE a.to_lo_id IS NOT NULL
UNION ALL
-- Losses: one row per change to 'lost', with the reason and the furthest won-path stage reached before it.
SELECT l.id, 'lost', (l.created_at AT TIME ZONE metrics_tz())::date,
       l.team_id, s.lo_id, l.source, l.campaign, l.property_state, l.loan_purpose,
       coalesce(s.lost_reason, 'unspecified'),
       (SELECT greatest(1, max(metrics_won_pos(p.to_stage))) FROM stage_changes p
         WHERE p.lead_id = s.lead_id AND (p.created_at, p.id) < (s.created_at, s.id)),
       1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM stage_changes s
JOIN leads l ON l.id = s.lead_id
WHERE s.to_stage = 'lost'
UNION ALL
-- Pipeline now: one row per lead in an open won-path stage (before funded), keyed by its current stage
-- (day is a constant: the pipeline is a snapshot, not a cohort).
SELECT l.id, 'open', DATE '1970-01-01',
       l.team_id, l.assigned_lo_id, l.source, l.campaign, l.property_state, l.loan_purpose,
       l.stage, metrics_won_pos(l.stage),
       1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, coalesce(l.loan_amount_cents, 0), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM leads l
WHERE metrics_won_pos(l.stage) BETWEEN 1 AND 7;

-- Recomputes one lead's contribution and appends the difference to metrics_deltas.
CREATE FUNCTION metrics_recompute_lead(p_lead uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_lead IS NULL OR coalesce(current_setting('loanfloor.metrics_triggers', true), '') = 'off' THEN
        RETURN;
    END IF;
    -- Triggers are deferred to commit, when all of this transaction's facts are in place: the first
    -- recomputation of a lead covers them all, later ones in the same transaction have nothing to add.
    IF EXISTS (SELECT 1 FROM metrics_lead_contrib WHERE lead_id = p_lead AND tx = pg_current_xact_id()) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(727008, hashtext(p_lead::text));
    WITH old AS (DELETE FROM metrics_lead_contrib WHERE lead_id = p_lead RETURNING kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8),
    new AS (INSERT INTO metrics_lead_contrib (lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
            SELECT lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM metrics_contributions WHERE lead_id = p_lead
            RETURNING kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    INSERT INTO metrics_deltas (kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8)
    FROM (SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, -n AS n, -r1 AS r1, -r2 AS r2, -r3 AS r3, -r4 AS r4, -r5 AS r5, -r6 AS r6, -r7 AS r7, -r8 AS r8, -called AS called, -called_twice AS called_twice, -contacted AS contacted, -attempts AS attempts, -attempts_to_contact AS attempts_to_contact, -talk_seconds AS talk_seconds, -volume_cents AS volume_cents, -cost_cents AS cost_cents, -h0 AS h0, -h1 AS h1, -h2 AS h2, -h3 AS h3, -h4 AS h4, -h5 AS h5, -h6 AS h6, -h7 AS h7, -h8 AS h8 FROM old UNION ALL SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM new) x
    GROUP BY kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos
    HAVING sum(n) <> 0 OR sum(r1) <> 0 OR sum(r2) <> 0 OR sum(r3) <> 0 OR sum(r4) <> 0 OR sum(r5) <> 0 OR sum(r6) <> 0 OR sum(r7) <> 0 OR sum(r8) <> 0 OR sum(called) <> 0 OR sum(called_twice) <> 0 OR sum(contacted) <> 0 OR sum(attempts) <> 0 OR sum(attempts_to_contact) <> 0 OR sum(talk_seconds) <> 0 OR sum(volume_cents) <> 0 OR sum(cost_cents) <> 0 OR sum(h0) <> 0 OR sum(h1) <> 0 OR sum(h2) <> 0 OR sum(h3) <> 0 OR sum(h4) <> 0 OR sum(h5) <> 0 OR sum(h6) <> 0 OR sum(h7) <> 0 OR sum(h8) <> 0;
END
$$;

CREATE FUNCTION metrics_fact_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'leads' THEN
        IF TG_OP <> 'INSERT' THEN PERFORM metrics_recompute_lead(OLD.id); END IF;
        IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.id IS DISTINCT FROM OLD.id) THEN
            PERFORM metrics_recompute_lead(NEW.id);
        END IF;
    ELSE
        IF TG_OP <> 'INSERT' THEN PERFORM metrics_recompute_lead(OLD.lead_id); END IF;
        IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.lead_id IS DISTINCT FROM OLD.lead_id) THEN
            PERFORM metrics_recompute_lead(NEW.lead_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER metrics_leads_ins AFTER INSERT ON leads DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_leads_upd AFTER UPDATE OF team_id, assigned_lo_id, source, campaign,
    property_state, loan_purpose, loan_amount_cents, cost_cents, created_at, stage ON leads
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((OLD.team_id, OLD.assigned_lo_id, OLD.source, OLD.campaign, OLD.property_state, OLD.loan_purpose,
           OLD.loan_amount_cents, OLD.cost_cents, OLD.created_at, OLD.stage)
          IS DISTINCT FROM (NEW.team_id, NEW.assigned_lo_id, NEW.source, NEW.campaign, NEW.property_state,
           NEW.loan_purpose, NEW.loan_amount_cents, NEW.cost_cents, NEW.created_at, NEW.stage))
    EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_leads_del AFTER DELETE ON leads DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_stage_changes AFTER INSERT OR UPDATE OR DELETE ON stage_changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_assignments AFTER INSERT OR UPDATE OR DELETE ON assignments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_activities AFTER INSERT OR UPDATE OF kind, outcome, talk_seconds, occurred_at,
    actor_id, lead_id OR DELETE ON activities DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION metrics_fact_trigger();

-- Folds up to max_rows deltas into metrics_daily; one folder at a time (others return 0 at once).
CREATE FUNCTION metrics_fold(max_rows int) RETURNS bigint LANGUAGE plpgsql AS $$
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
        TRUNCATE metrics_fold_batch;
        UPDATE metrics_state SET value = now() WHERE key = 'folded_at';
    END IF;
    RETURN moved;
END
$$;

-- Rebuilds every rollup from the base tables (after bulk loads with triggers off, or a time-zone change).
CREATE FUNCTION metrics_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(727008, 0);
    LOCK TABLE metrics_lead_contrib IN EXCLUSIVE MODE;
    TRUNCATE metrics_lead_contrib, metrics_deltas, metrics_daily;
    INSERT INTO metrics_lead_contrib (lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8) SELECT lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8 FROM metrics_contributions;
    WITH d AS (SELECT * FROM metrics_lead_contrib) INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 0, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8) FROM d GROUP BY kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos
        ON CONFLICT (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos)
        DO UPDATE SET n = metrics_daily.n + excluded.n, r1 = metrics_daily.r1 + excluded.r1, r2 = metrics_daily.r2 + excluded.r2, r3 = metrics_daily.r3 + excluded.r3, r4 = metrics_daily.r4 + excluded.r4, r5 = metrics_daily.r5 + excluded.r5, r6 = metrics_daily.r6 + excluded.r6, r7 = metrics_daily.r7 + excluded.r7, r8 = metrics_daily.r8 + excluded.r8, called = metrics_daily.called + excluded.called, called_twice = metrics_daily.called_twice + excluded.called_twice, contacted = metrics_daily.contacted + excluded.contacted, attempts = metrics_daily.attempts + excluded.attempts, attempts_to_contact = metrics_daily.attempts_to_contact + excluded.attempts_to_contact, talk_seconds = metrics_daily.talk_seconds + excluded.talk_seconds, volume_cents = metrics_daily.volume_cents + excluded.volume_cents, cost_cents = metrics_daily.cost_cents + excluded.cost_cents, h0 = metrics_daily.h0 + excluded.h0, h1 = metrics_daily.h1 + excluded.h1, h2 = metrics_daily.h2 + excluded.h2, h3 = metrics_daily.h3 + excluded.h3, h4 = metrics_daily.h4 + excluded.h4, h5 = metrics_daily.h5 + excluded.h5, h6 = metrics_daily.h6 + excluded.h6, h7 = metrics_daily.h7 + excluded.h7, h8 = metrics_daily.h8 + excluded.h8, updated_at = now();
    WITH d AS (SELECT * FROM metrics_lead_contrib) INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 1, kind, day, team_id, lo_id, NULL, NULL, NULL, NULL, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8) FROM d GROUP BY kind, day, team_id, lo_id, detail, reached_pos
        ON CONFLICT (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos)
        DO UPDATE SET n = metrics_daily.n + excluded.n, r1 = metrics_daily.r1 + excluded.r1, r2 = metrics_daily.r2 + excluded.r2, r3 = metrics_daily.r3 + excluded.r3, r4 = metrics_daily.r4 + excluded.r4, r5 = metrics_daily.r5 + excluded.r5, r6 = metrics_daily.r6 + excluded.r6, r7 = metrics_daily.r7 + excluded.r7, r8 = metrics_daily.r8 + excluded.r8, called = metrics_daily.called + excluded.called, called_twice = metrics_daily.called_twice + excluded.called_twice, contacted = metrics_daily.contacted + excluded.contacted, attempts = metrics_daily.attempts + excluded.attempts, attempts_to_contact = metrics_daily.attempts_to_contact + excluded.attempts_to_contact, talk_seconds = metrics_daily.talk_seconds + excluded.talk_seconds, volume_cents = metrics_daily.volume_cents + excluded.volume_cents, cost_cents = metrics_daily.cost_cents + excluded.cost_cents, h0 = metrics_daily.h0 + excluded.h0, h1 = metrics_daily.h1 + excluded.h1, h2 = metrics_daily.h2 + excluded.h2, h3 = metrics_daily.h3 + excluded.h3, h4 = metrics_daily.h4 + excluded.h4, h5 = metrics_daily.h5 + excluded.h5, h6 = metrics_daily.h6 + excluded.h6, h7 = metrics_daily.h7 + excluded.h7, h8 = metrics_daily.h8 + excluded.h8, updated_at = now();
    WITH d AS (SELECT * FROM metrics_lead_contrib) INSERT INTO metrics_daily (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT 2, kind, day, team_id, NULL, source, NULL, NULL, NULL, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8) FROM d GROUP BY kind, day, team_id, source, detail, reached_pos
        ON CONFLICT (grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos)
        DO UPDATE SET n = metrics_daily.n + excluded.n, r1 = metrics_daily.r1 + excluded.r1, r2 = metrics_daily.r2 + excluded.r2, r3 = metrics_daily.r3 + excluded.r3, r4 = metrics_daily.r4 + excluded.r4, r5 = metrics_daily.r5 + excluded.r5, r6 = metrics_daily.r6 + excluded.r6, r7 = metrics_daily.r7 + excluded.r7, r8 = metrics_daily.r8 + excluded.r8, called = metrics_daily.called + excluded.called, called_twice = metrics_daily.called_twice + excluded.called_twice, contacted = metrics_daily.contacted + excluded.contacted, attempts = metrics_daily.attempts + excluded.attempts, attempts_to_contact = metrics_daily.attempts_to_contact + excluded.attempts_to_contact, talk_seconds = metrics_daily.talk_seconds + excluded.talk_seconds, volume_cents = metrics_daily.volume_cents + excluded.volume_cents, cost_cents = metrics_daily.cost_cents + excluded.cost_cents, h0 = metrics_daily.h0 + excluded.h0, h1 = metrics_daily.h1 + excluded.h1, h2 = metrics_daily.h2 + excluded.h2, h3 = metrics_daily.h3 + excluded.h3, h4 = metrics_daily.h4 + excluded.h4, h5 = metrics_daily.h5 + excluded.h5, h6 = metrics_daily.h6 + excluded.h6, h7 = metrics_daily.h7 + excluded.h7, h8 = metrics_daily.h8 + excluded.h8, updated_at = now();
    UPDATE metrics_state SET value = now() WHERE key IN ('rebuilt_at', 'folded_at');
END
$$;

-- Monthly spend per source entered by an admin (in addition to per-lead cost_cents), prorated by day.
CREATE TABLE metrics_source_spend (
    source      text NOT NULL REFERENCES lead_sources (key) ON DELETE RESTRICT,
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    spend_cents bigint NOT NULL CHECK (spend_cents >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, month)
);

-- Pipeline staleness is time-dependent, so it is counted from leads with this index (capped on the page).
CREATE INDEX leads_stage_changed_idx ON leads (stage, stage_changed_at);
