-- Issue 22: each instance may keep signed-in sessions for a few seconds (`auth::session_cache`, `--session-cache`),
-- so a page or API call made with a session cookie needs no round trip to learn who is calling. What a kept session
-- answers with comes from three tables: the user (already notified on `loanfloor_auth_changed`, migration 0056), the
-- session row itself (its data, such as a flash message, and its idle expiry) and the person's unread
-- notifications (the bell's count). A change to either of the last two notifies every instance here, naming the
-- session's id hash or the person, so each forgets just that. Row triggers: PostgreSQL folds identical
-- notifications within a transaction, and a statement that changes nothing notifies nothing. A sign-in (a new
-- session) needs no notification: no instance can have kept a session that did not exist.
CREATE FUNCTION notify_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'sessions' THEN
        PERFORM pg_notify('loanfloor_session_changed', 'session:' || OLD.id_hash);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('loanfloor_session_changed', 'person:' || OLD.user_id);
    ELSE
        PERFORM pg_notify('loanfloor_session_changed', 'person:' || NEW.user_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_session_changed();
CREATE TRIGGER notifications_unread_changed AFTER INSERT OR DELETE OR UPDATE OF read_at ON notifications
    FOR EACH ROW EXECUTE FUNCTION notify_session_changed();

-- Which roles must pass a second factor decides whether a session that has not passed one may be kept answering;
-- a change to it is a change to who may sign in, told to every instance like a change to a user.
CREATE FUNCTION notify_mfa_policy_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.key = 'mfa_required_roles'
       OR TG_OP <> 'DELETE' AND NEW.key = 'mfa_required_roles' THEN
        PERFORM pg_notify('loanfloor_auth_changed', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER settings_mfa_policy_changed AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH ROW EXECUTE FUNCTION notify_mfa_policy_changed();
