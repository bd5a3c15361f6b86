-- Issue 22: a routing decision's candidates are kept as `json` (the text as written, checked to be JSON), not
-- `jsonb`. With 200 LOs a decision carries about 75 KB of JSON, written inside the transaction that holds the
-- rotations' locks; converting it to jsonb's binary form was a quarter of the database's CPU during an intake
-- burst (perf: jsonb_recv 12% of both cores at 272 leads/s), while nothing queries inside the column: pages
-- and the API read it whole, and disposal scrubs it through jsonb (src/retention/dispose.rs). Measured on 200
-- stored decisions: 0.73 ms a row as jsonb, 0.43 ms as json. A change of type forgets the column's compression,
-- so lz4 is set again as 0016 set it.
ALTER TABLE routing_decisions ALTER COLUMN candidates TYPE json USING candidates::json;
DO $$
BEGIN
    ALTER TABLE routing_decisions ALTER COLUMN candidates SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server; routing decisions stay compressed with pglz';
END
$$;
