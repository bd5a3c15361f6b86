-- Issue 24, in part: an email typed at a refused sign-in is kept as its SHA-256 only (auth::throttle::
-- typed_email_hash), in the audit log and in the throttle's keys. Entries written before are rewritten the same
-- way, once: the append-only trigger is lifted for this one statement inside the migration's transaction.

ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
UPDATE audit_log
   SET entity_id = encode(sha256(convert_to('loanfloor sign-in:' || lower(trim(entity_id)), 'UTF8')), 'hex'),
       after = jsonb_build_object('email_sha256',
                   encode(sha256(convert_to('loanfloor sign-in:' || lower(trim(entity_id)), 'UTF8')), 'hex'))
 WHERE action IN ('login_failed', 'login_throttled') AND entity_id LIKE '%@%';
ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;

UPDATE login_throttle
   SET key = 'acct:' || encode(sha256(convert_to('loanfloor sign-in:' || lower(trim(substr(key, 6))), 'UTF8')), 'hex')
 WHERE key LIKE 'acct:%@%';

-- An import's bad-row report (it quotes the rows, personal data) lives in the database, where every instance
-- finds it, for 24 hours: the hourly housekeeping job deletes it after that (it used to stay in one instance's
-- temporary directory for ever).
CREATE TABLE import_reports (
    token       uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_reports_created_idx ON import_reports (created_at);
