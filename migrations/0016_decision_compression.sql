-- A routing decision stores every candidate LO with the reasons they were or were not eligible (about 50 KB
-- of JSON with 200 LOs). The row is written while the rotation lock is held, and compressing it with the
-- default pglz took about 3 ms of that time per lead; lz4 compresses several times faster. Servers built
-- without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE routing_decisions ALTER COLUMN candidates SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server; routing decisions stay compressed with pglz';
END
$$;
