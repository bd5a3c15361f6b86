-- Open leads per LO, kept current by statement-level triggers on leads, so a routing decision reads one row
-- per candidate instead of counting every candidate's open leads (≈37,000 rows at 1M leads, 100+ ms, inside
-- the rotation lock). "Open" is the pipeline stage's kind, as everywhere else.
--
-- Lock order: a transaction that routes takes the rotation row lock (rule_positions) before it changes any
-- lead, and so before any row here; multi-lead routing (bulk reassignment, hand-over, imports) takes every
-- rotation lock first. Writers that never route only touch rows here. So no cycle can form.

CREATE TABLE lo_open_leads (
    lo_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    open_leads  bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE lo_open_leads IS
    'Derived: open leads (stage kind = open) assigned to each LO; maintained by triggers on leads and stages.';

-- Recounts everything (after a bulk load with triggers off, or when a stage changes kind).
CREATE FUNCTION lo_open_leads_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM lo_open_leads;
    INSERT INTO lo_open_leads (lo_id, open_leads)
    SELECT l.assigned_lo_id, count(*)
    FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
    WHERE l.assigned_lo_id IS NOT NULL AND s.kind = 'open'
    GROUP BY l.assigned_lo_id;
$$;

CREATE FUNCTION lo_open_leads_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lo_open_leads AS c (lo_id, open_leads)
    SELECT n.assigned_lo_id, count(*)
    FROM new_rows n JOIN stages s ON s.pipeline_id = n.pipeline_id AND s.key = n.stage
    WHERE n.assigned_lo_id IS NOT NULL AND s.kind = 'open'
    GROUP BY n.assigned_lo_id
    ORDER BY n.assigned_lo_id
    ON CONFLICT (lo_id) DO UPDATE SET open_leads = c.open_leads + EXCLUDED.open_leads, updated_at = now();
    RETURN NULL;
END $$;

CREATE FUNCTION lo_open_leads_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lo_open_leads AS c (lo_id, open_leads)
    SELECT lo, sum(d)
    FROM (
        SELECT n.assigned_lo_id AS lo, 1 AS d
        FROM new_rows n JOIN stages s ON s.pipeline_id = n.pipeline_id AND s.key = n.stage
        WHERE n.assigned_lo_id IS NOT NULL AND s.kind = 'open'
        UNION ALL
        SELECT o.assigned_lo_id, -1
        FROM old_rows o JOIN stages s ON s.pipeline_id = o.pipeline_id AND s.key = o.stage
        WHERE o.assigned_lo_id IS NOT NULL AND s.kind = 'open'
    ) x
    GROUP BY lo
    HAVING sum(d) <> 0
    ORDER BY lo
    ON CONFLICT (lo_id) DO UPDATE SET open_leads = c.open_leads + EXCLUDED.open_leads, updated_at = now();
    RETURN NULL;
END $$;

CREATE FUNCTION lo_open_leads_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lo_open_leads c SET open_leads = c.open_leads - x.n, updated_at = now()
    FROM (
        SELECT o.assigned_lo_id AS lo, count(*) AS n
        FROM old_rows o JOIN stages s ON s.pipeline_id = o.pipeline_id AND s.key = o.stage
        WHERE o.assigned_lo_id IS NOT NULL AND s.kind = 'open'
        GROUP BY o.assigned_lo_id
    ) x
    WHERE c.lo_id = x.lo;
    RETURN NULL;
END $$;

CREATE TRIGGER leads_open_count_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lo_open_leads_on_insert();
CREATE TRIGGER leads_open_count_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lo_open_leads_on_update();
CREATE TRIGGER leads_open_count_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION lo_open_leads_on_delete();

CREATE FUNCTION lo_open_leads_on_stage_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lo_open_leads_rebuild();
    RETURN NULL;
END $$;

CREATE TRIGGER stages_open_count AFTER INSERT OR DELETE OR UPDATE OF kind, key ON stages
    FOR EACH STATEMENT EXECUTE FUNCTION lo_open_leads_on_stage_change();

SELECT lo_open_leads_rebuild();
