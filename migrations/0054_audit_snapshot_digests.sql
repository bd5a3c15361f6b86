-- Issue 24: the audit log stays verifiable when disposal removes personal values from its snapshots. Each entry
-- written from now on keeps the SHA-256 of its snapshots as written (before, a record separator, after, as
-- jsonb's canonical text). Disposal may replace the snapshots but never the digest (the trigger below), so
-- `loanfloor audit verify` recomputes every unscrubbed entry's digest and finds any snapshot changed outside
-- a disposal, while a scrubbed entry still shows what it held when written, without the values.
-- Entries written before this migration carry no digest (NULL): rewriting millions of rows at start-up is not
-- worth a digest computed today of what may already have been changed.
ALTER TABLE audit_log ADD COLUMN snapshot_sha256 bytea;

CREATE FUNCTION audit_snapshot_digest(before jsonb, after jsonb) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to(coalesce(before::text, '') || chr(30) || coalesce(after::text, ''), 'UTF8'))
$$;

CREATE FUNCTION audit_log_digest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.snapshot_sha256 := audit_snapshot_digest(NEW.before, NEW.after);
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_digest BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_digest();

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND disposal_in_progress() AND NEW.scrubbed_at IS NOT NULL
       AND (NEW.id, NEW.created_at, NEW.actor_id, NEW.actor_label, NEW.action, NEW.entity, NEW.entity_id,
            NEW.request_id, NEW.client_addr, NEW.token_id, NEW.token_issued_by, NEW.snapshot_sha256)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.created_at, OLD.actor_id, OLD.actor_label, OLD.action, OLD.entity, OLD.entity_id,
            OLD.request_id, OLD.client_addr, OLD.token_id, OLD.token_issued_by, OLD.snapshot_sha256) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
