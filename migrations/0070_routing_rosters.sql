-- Issue 22: what the decisions of one rotation share is stored once. A routing decision's candidate list
-- (migration 0069) repeated, for every lead, each candidate LO's id, weight, capacity and status: about 10 KB a
-- decision over 200 LOs (250 MB for 24,000 decisions on the bench database; a million routed leads would keep
-- some 10 GB), and the largest statement of a routing transaction after the metrics. Those four lists are now a
-- roster, stored once under the SHA-256 of its text; a decision (`"v": 3`, see `CandidateRecords` in
-- src/routing/distribute.rs) keeps the roster's id and what is its own: the LOs' open leads at that moment,
-- which reasons passed each LO over, and the chosen LO (whether an LO was eligible follows from these, as the
-- code decides it: no reason against them, and a weight above zero or chosen).
--
-- A roster holds no borrower's data (LOs' ids, weights, capacities and statuses), so disposal has nothing to
-- remove from it; it is never changed once stored, and decisions that name it outlive nobody's rights to it.
CREATE TABLE routing_rosters (
    id         text PRIMARY KEY,
    body       json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE routing_rosters IS
    'The candidate LOs a routing decision considered, shared by the decisions that considered the same ones alike: '
    'lo_id, weight, capacity and status, one array each in candidate order; id = sha256 (hex) of body as stored.';

-- The documented list of a stored `candidates` value: a record of this migration ("v": 3, its shared lists read
-- from its roster) or of 0069 ("v": 2, every list in the record) expanded to one object per LO, in the order
-- stored (`lo_id`, `name`, `email`, `eligible`, `chosen`, `reasons`, `codes`, `weight`, `open_leads`,
-- `capacity`, `status`), names and emails from `users`; anything else (a list stored by an earlier version, or
-- a disposal marker) as it is.
CREATE OR REPLACE FUNCTION routing_candidates(doc json) RETURNS json LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN json_typeof(doc) = 'object' AND doc->>'v' IN ('2', '3') THEN (
        SELECT coalesce(json_agg(json_build_object(
                   'lo_id', c.lo_id,
                   'name', coalesce(u.name, ''),
                   'email', coalesce(u.email, ''),
                   'eligible', CASE WHEN doc->>'v' = '2' THEN (c.eligible::text)::boolean
                                    ELSE c.reason_group IS NULL
                                         AND ((c.weight::text)::bigint > 0 OR coalesce(c.lo_id = doc->>'chosen', false)) END,
                   'chosen', coalesce(c.lo_id = doc->>'chosen', false),
                   'reasons', coalesce(doc->'groups'->(c.reason_group::int)->'reasons', '[]'::json),
                   'codes', coalesce(doc->'groups'->(c.reason_group::int)->'codes', '[]'::json),
                   'weight', c.weight,
                   'open_leads', c.open_leads,
                   'capacity', c.capacity,
                   'status', c.status) ORDER BY c.i), '[]'::json)
        FROM (SELECT CASE WHEN doc->>'v' = '3' THEN (SELECT r.body FROM routing_rosters r WHERE r.id = doc->>'roster')
                          ELSE doc END AS shared) s
        CROSS JOIN LATERAL ROWS FROM (
                        json_array_elements_text(s.shared->'lo_id'), json_array_elements(doc->'eligible'),
                        json_array_elements(s.shared->'weight'), json_array_elements(doc->'open_leads'),
                        json_array_elements(s.shared->'capacity'), json_array_elements_text(s.shared->'status'),
                        json_array_elements_text(doc->'reason_group'))
             WITH ORDINALITY AS c(lo_id, eligible, weight, open_leads, capacity, status, reason_group, i)
        -- (An id a disposal scrubbed, `[disposed]`, names nobody.)
        LEFT JOIN users u ON u.id = CASE WHEN c.lo_id ~ '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN c.lo_id::uuid END
        -- (A roster that is not there lists nobody.)
        WHERE s.shared IS NOT NULL)
    ELSE doc END
$$;
