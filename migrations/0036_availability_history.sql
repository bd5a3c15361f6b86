-- Availability over time (issue 17): every change of an LO's status (available, away, offline) is kept, however
-- it was made (the availability board, the LO's profile, deactivation), by a trigger on lo_profiles, so the
-- dashboard can say how many hours each LO made themselves available to take leads.
CREATE TABLE lo_status_changes (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status     text NOT NULL CHECK (status IN ('available', 'away', 'offline')),
    changed_at timestamptz NOT NULL
);
CREATE INDEX lo_status_changes_user_idx ON lo_status_changes (user_id, changed_at);

INSERT INTO lo_status_changes (user_id, status, changed_at) SELECT user_id, status, status_changed_at FROM lo_profiles;

CREATE FUNCTION lo_status_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO lo_status_changes (user_id, status, changed_at) VALUES (NEW.user_id, NEW.status, NEW.status_changed_at);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER lo_profiles_status_history AFTER INSERT OR UPDATE OF status ON lo_profiles
    FOR EACH ROW EXECUTE FUNCTION lo_status_history();
