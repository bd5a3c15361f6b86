-- Issue 22: a routing decision stores its candidates one array per field (see `CandidateRecords` in
-- src/routing/distribute.rs), about a quarter of the size of one object per LO with the LO's name, email and
-- reasons repeated in every decision. Reading them back expands the record into the documented list.

-- The documented list of a stored `candidates` value: a record of migration 0069 (an object with "v": 2)
-- expanded to one object per LO, in the order stored (`lo_id`, `name`, `email`, `eligible`, `chosen`,
-- `reasons`, `codes`, `weight`, `open_leads`, `capacity`, `status`), names and emails from `users`; anything
-- else (a list stored by an earlier version, or a disposal marker) as it is.
CREATE FUNCTION routing_candidates(doc json) RETURNS json LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN json_typeof(doc) = 'object' AND doc->>'v' = '2' THEN (
        SELECT coalesce(json_agg(json_build_object(
                   'lo_id', c.lo_id,
                   'name', coalesce(u.name, ''),
                   'email', coalesce(u.email, ''),
                   'eligible', c.eligible,
                   'chosen', coalesce(c.lo_id = doc->>'chosen', false),
                   'reasons', coalesce(doc->'groups'->(c.reason_group::int)->'reasons', '[]'::json),
                   'codes', coalesce(doc->'groups'->(c.reason_group::int)->'codes', '[]'::json),
                   'weight', c.weight,
                   'open_leads', c.open_leads,
                   'capacity', c.capacity,
                   'status', c.status) ORDER BY c.i), '[]'::json)
        FROM ROWS FROM (json_array_elements_text(doc->'lo_id'), json_array_elements(doc->'eligible'),
                        json_array_elements(doc->'weight'), json_array_elements(doc->'open_leads'),
                        json_array_elements(doc->'capacity'), json_array_elements_text(doc->'status'),
                        json_array_elements_text(doc->'reason_group'))
             WITH ORDINALITY AS c(lo_id, eligible, weight, open_leads, capacity, status, reason_group, i)
        -- (An id a disposal scrubbed, `[disposed]`, names nobody.)
        LEFT JOIN users u ON u.id = CASE WHEN c.lo_id ~ '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN c.lo_id::uuid END)
    ELSE doc END
$$;

-- The record is mostly ids, which pglz compresses poorly and slowly: 0.58 ms a decision of 200 LOs against
-- 0.19 ms with lz4 (measured on the reference machine). A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE routing_decisions ALTER COLUMN candidates SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available in this server: routing decisions stay compressed with pglz';
END $$;
