-- Accounts: users and roles, teams (branches) and their managers, LO profiles, MFA, API tokens, throttling.

CREATE TABLE teams (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_name_idx ON teams (lower(name));

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'manager', 'lo', 'lossmit', 'lossmit_supervisor', 'intake')),
    active        boolean NOT NULL DEFAULT true,
    password_hash text NOT NULL,
    team_id       uuid REFERENCES teams (id) ON DELETE RESTRICT,
    -- Bumped to end every session of the user (deactivation, password reset).
    auth_epoch    int NOT NULL DEFAULT 0,
    mfa_secret    text,
    mfa_enabled   boolean NOT NULL DEFAULT false,
    version       int NOT NULL DEFAULT 1,
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));
CREATE INDEX users_team_idx ON users (team_id);

CREATE TABLE team_managers (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_managers_user_idx ON team_managers (user_id);

CREATE TABLE lo_profiles (
    user_id            uuid PRIMARY KEY REFERENCES users (id) ON DELETE RESTRICT,
    nmls_id            text,
    licensed_states    text[] NOT NULL DEFAULT '{}',
    capacity           int NOT NULL DEFAULT 50 CHECK (capacity >= 0),
    status             text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'away', 'offline')),
    status_changed_at  timestamptz NOT NULL DEFAULT now(),
    work_start         time NOT NULL DEFAULT '08:00',
    work_end           time NOT NULL DEFAULT '18:00',
    -- ISO weekdays, 1 = Monday.
    work_days          int[] NOT NULL DEFAULT '{1,2,3,4,5}',
    timezone           text NOT NULL DEFAULT 'America/Chicago',
    routing_weight     int NOT NULL DEFAULT 1 CHECK (routing_weight >= 0),
    monthly_cost_cents bigint NOT NULL DEFAULT 0 CHECK (monthly_cost_cents >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mfa_recovery_codes (
    id          bigserial PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   text NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    label        text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Failed sign-ins per account ('acct:<email>') and per client address ('addr:<ip>'), shared by all instances.
CREATE TABLE login_throttle (
    key            text PRIMARY KEY,
    failures       int NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    title       text NOT NULL,
    link        text NOT NULL DEFAULT '',
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_unread_idx ON notifications (user_id, created_at DESC) WHERE read_at IS NULL;

INSERT INTO settings (key, value) VALUES ('mfa_required_roles', '[]');

-- Browser sessions (tower-sessions records), shared by every instance; deleting a row ends the session.
CREATE TABLE sessions (
    id          text PRIMARY KEY,
    user_id     uuid,
    data        jsonb NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_user_idx ON sessions (user_id);
