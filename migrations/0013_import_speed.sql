-- Bulk lead imports without one metrics recomputation (and one advisory lock) per lead.
--
-- 1. The metric fact triggers get a WHEN clause on loanfloor.metrics_triggers. A constraint trigger's WHEN is
--    evaluated as each row is written (not at commit), so rows written with the setting 'off' queue no trigger
--    event at all; before, each queued event still ran two PL/pgSQL calls at commit to find out it had nothing
--    to do. Writers that turn the setting off own the rollups of what they wrote: the seed generator rebuilds
--    them, the CSV lead import calls metrics_add_new_leads() below.
-- 2. metrics_add_new_leads(ids) adds the contributions of leads created in the calling transaction (with the
--    switch off, so none are stored yet) in one set-based statement. Such leads cannot have facts written by
--    another transaction before this one commits (their rows are not visible; a foreign key to them waits for
--    the commit), so no per-lead lock is needed. Existing leads the same transaction touched are recomputed
--    the ordinary way, each under its lock: metrics_recompute_leads(ids), with the switch back on.

DROP TRIGGER metrics_leads_ins ON leads;
DROP TRIGGER metrics_leads_upd ON leads;
DROP TRIGGER metrics_leads_del ON leads;
DROP TRIGGER metrics_stage_changes ON stage_changes;
DROP TRIGGER metrics_assignments ON assignments;
DROP TRIGGER metrics_activities ON activities;

CREATE CONSTRAINT TRIGGER metrics_leads_ins AFTER INSERT ON leads DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (coalesce(current_setting('loanfloor.metrics_triggers', true), '') <> 'off')
    EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_leads_upd AFTER UPDATE OF team_id, assigned_lo_id, source, campaign,
    property_state, loan_purpose, loan_amount_cents, cost_cents, created_at, stage ON leads
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (coalesce(current_setting('loanfloor.metrics_triggers', true), '') <> 'off'
          AND (OLD.team_id, OLD.assigned_lo_id, OLD.source, OLD.campaign, OLD.property_state, OLD.loan_purpose,
               OLD.loan_amount_cents, OLD.cost_cents, OLD.created_at, OLD.stage)
          IS DISTINCT FROM (NEW.team_id, NEW.assigned_lo_id, NEW.source, NEW.campaign, NEW.property_state,
               NEW.loan_purpose, NEW.loan_amount_cents, NEW.cost_cents, NEW.created_at, NEW.stage))
    EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_leads_del AFTER DELETE ON leads DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (coalesce(current_setting('loanfloor.metrics_triggers', true), '') <> 'off')
    EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_stage_changes AFTER INSERT OR UPDATE OR DELETE ON stage_changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (coalesce(current_setting('loanfloor.metrics_triggers', true), '') <> 'off')
    EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_assignments AFTER INSERT OR UPDATE OR DELETE ON assignments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (coalesce(current_setting('loanfloor.metrics_triggers', true), '') <> 'off')
    EXECUTE FUNCTION metrics_fact_trigger();
CREATE CONSTRAINT TRIGGER metrics_activities AFTER INSERT OR UPDATE OF kind, outcome, talk_seconds, occurred_at,
    actor_id, lead_id OR DELETE ON activities DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (coalesce(current_setting('loanfloor.metrics_triggers', true), '') <> 'off')
    EXECUTE FUNCTION metrics_fact_trigger();

CREATE FUNCTION metrics_add_new_leads(p_leads uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Call it once every fact of these leads is written, with the triggers' switch still off: a later trigger
    -- in this transaction finds their contributions already computed and does nothing.
    WITH new AS (
        INSERT INTO metrics_lead_contrib (lead_id, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
        SELECT c.lead_id, c.kind, c.day, c.team_id, c.lo_id, c.source, c.campaign, c.state, c.purpose, c.detail, c.reached_pos, c.n, c.r1, c.r2, c.r3, c.r4, c.r5, c.r6, c.r7, c.r8, c.called, c.called_twice, c.contacted, c.attempts, c.attempts_to_contact, c.talk_seconds, c.volume_cents, c.cost_cents, c.h0, c.h1, c.h2, c.h3, c.h4, c.h5, c.h6, c.h7, c.h8
        FROM metrics_contributions c
        WHERE c.lead_id = ANY(p_leads)
        RETURNING kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    INSERT INTO metrics_deltas (kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8)
    SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, sum(n), sum(r1), sum(r2), sum(r3), sum(r4), sum(r5), sum(r6), sum(r7), sum(r8), sum(called), sum(called_twice), sum(contacted), sum(attempts), sum(attempts_to_contact), sum(talk_seconds), sum(volume_cents), sum(cost_cents), sum(h0), sum(h1), sum(h2), sum(h3), sum(h4), sum(h5), sum(h6), sum(h7), sum(h8)
    FROM new
    GROUP BY kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos;
END
$$;

CREATE FUNCTION metrics_recompute_leads(p_leads uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    one uuid;
BEGIN
    FOR one IN SELECT DISTINCT x FROM unnest(p_leads) AS x ORDER BY x LOOP
        PERFORM metrics_recompute_lead(one);
    END LOOP;
END
$$;
