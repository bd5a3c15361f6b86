-- Issue 22: each instance keeps the users behind API tokens for a few seconds (`auth::token_cache`). Any change
-- to who a user is or what a token may do tells every instance at commit, so a deactivation, a new role or team,
-- a managed team added or removed, or a revoked token takes effect everywhere at once. Row triggers: a statement
-- that changes nothing notifies nothing, and PostgreSQL folds identical notifications within a transaction.
-- Bookkeeping that changes nothing a request is allowed by (a token's last use, a sign-in's time, the last
-- second-factor step) does not notify.
CREATE FUNCTION notify_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND to_jsonb(NEW) - ARRAY['last_used_at', 'last_login_at', 'mfa_last_step', 'updated_at']
           = to_jsonb(OLD) - ARRAY['last_used_at', 'last_login_at', 'mfa_last_step', 'updated_at'] THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('loanfloor_auth_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER users_auth_changed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_auth_changed();
CREATE TRIGGER api_tokens_auth_changed AFTER INSERT OR UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION notify_auth_changed();
CREATE TRIGGER team_managers_auth_changed AFTER INSERT OR UPDATE OR DELETE ON team_managers
    FOR EACH ROW EXECUTE FUNCTION notify_auth_changed();
