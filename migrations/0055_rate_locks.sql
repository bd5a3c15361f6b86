-- Issue 20: rate locks and the lock desk.
--
-- Money: a price is basis points of the loan amount (positive: points the borrower pays; negative: a lender
-- credit); a rate is thousandths of a percent (6.875% is 6875); amounts are integer cents. A lock of N days taken
-- on day D runs through day D + N (`last_day`) and lapses at the start of the next day in the organisation's time
-- zone (`expires_at`, computed by the application from `last_day`).

-- The investors a branch locks with, with their relock and float-down terms (maintained by admins).
CREATE TABLE lock_investors (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    relock_fee_bps integer NOT NULL DEFAULT 25 CHECK (relock_fee_bps BETWEEN 0 AND 500),
    float_down_fee_bps integer NOT NULL DEFAULT 25 CHECK (float_down_fee_bps BETWEEN 0 AND 500),
    -- The least improvement of the market rate that allows a float-down, in thousandths of a percent.
    float_down_min_milli integer NOT NULL DEFAULT 250 CHECK (float_down_min_milli BETWEEN 0 AND 5000),
    -- The most days of extension one lock may get (NULL: no cap).
    max_extension_days integer CHECK (max_extension_days BETWEEN 1 AND 180),
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX lock_investors_name_idx ON lock_investors (lower(name));

-- Each investor's published extension schedule: an extension of `days` costs `cost_bps`.
CREATE TABLE lock_extension_options (
    investor_id uuid NOT NULL REFERENCES lock_investors (id) ON DELETE RESTRICT,
    days integer NOT NULL CHECK (days BETWEEN 1 AND 60),
    cost_bps integer NOT NULL CHECK (cost_bps BETWEEN 0 AND 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (investor_id, days)
);

-- A lock on a loan (a lead with its LOS loan number). At most one lock of a loan is live (`locked`); a relock
-- after expiry or cancellation is a new row naming the lock it replaces.
CREATE TABLE rate_locks (
    id uuid PRIMARY KEY,
    lead_id uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    -- The LOS's own id for this lock, when it came from (or was sent to) the LOS: with the loan number, the key
    -- that makes the LOS import idempotent.
    los_lock_id text CHECK (length(los_lock_id) BETWEEN 1 AND 64),
    investor_id uuid NOT NULL REFERENCES lock_investors (id) ON DELETE RESTRICT,
    product text NOT NULL CHECK (length(product) BETWEEN 1 AND 80),
    rate_milli integer NOT NULL CHECK (rate_milli BETWEEN 1 AND 20000),
    -- The price at lock (or relock, or float-down) and the extensions' cost on top of it.
    base_price_bps integer NOT NULL CHECK (base_price_bps BETWEEN -1500 AND 1500),
    extension_bps integer NOT NULL DEFAULT 0 CHECK (extension_bps BETWEEN 0 AND 3000),
    loan_amount_cents bigint NOT NULL CHECK (loan_amount_cents > 0),
    locked_on date NOT NULL,
    period_days integer NOT NULL CHECK (period_days IN (15, 30, 45, 60)),
    extended_days integer NOT NULL DEFAULT 0 CHECK (extended_days BETWEEN 0 AND 360),
    last_day date NOT NULL CHECK (last_day >= locked_on),
    expires_at timestamptz NOT NULL,
    -- The loan's expected closing date ("will it close in time?").
    closing_on date,
    status text NOT NULL DEFAULT 'locked' CHECK (status IN ('locked', 'expired', 'cancelled', 'closed')),
    relock_of uuid REFERENCES rate_locks (id) ON DELETE RESTRICT,
    locked_by uuid REFERENCES users (id) ON DELETE RESTRICT,
    origin text NOT NULL DEFAULT 'loanfloor' CHECK (origin IN ('loanfloor', 'los')),
    -- When the "expires in 3 days" notice went out for the current last day (NULL: not yet).
    expiring_notice_for date,
    ended_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX rate_locks_one_live_idx ON rate_locks (lead_id) WHERE status = 'locked';
CREATE UNIQUE INDEX rate_locks_los_idx ON rate_locks (lead_id, los_lock_id) WHERE los_lock_id IS NOT NULL;
CREATE INDEX rate_locks_lead_idx ON rate_locks (lead_id, created_at DESC);
CREATE INDEX rate_locks_live_expiry_idx ON rate_locks (expires_at) WHERE status = 'locked';
CREATE INDEX rate_locks_locked_on_idx ON rate_locks (locked_on);

-- Every change to a lock, immutable: who, when, what it cost, and whom the cost is attributed to (the loan's LO
-- and team at the time), so "extension cost per LO, team and month" is read from facts.
CREATE TABLE rate_lock_events (
    id bigserial PRIMARY KEY,
    lock_id uuid NOT NULL REFERENCES rate_locks (id) ON DELETE RESTRICT,
    kind text NOT NULL CHECK (kind IN ('locked', 'extended', 'relocked', 'floated_down', 'cancelled', 'expired',
                                        'closed', 'changed', 'expiring_notice')),
    actor_id uuid REFERENCES users (id) ON DELETE RESTRICT,
    origin text NOT NULL DEFAULT 'loanfloor' CHECK (origin IN ('loanfloor', 'los', 'job')),
    days integer,
    cost_bps integer,
    cost_cents bigint,
    lo_id uuid REFERENCES users (id) ON DELETE RESTRICT,
    team_id uuid REFERENCES teams (id) ON DELETE RESTRICT,
    -- The escalation that approved this change, if one did.
    escalation_id uuid REFERENCES escalations (id) ON DELETE RESTRICT,
    before jsonb,
    after jsonb,
    note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_lock_events_lock_idx ON rate_lock_events (lock_id, id);
CREATE INDEX rate_lock_events_cost_idx ON rate_lock_events (created_at) WHERE kind = 'extended';

CREATE FUNCTION rate_lock_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Disposal may scrub a note (the borrower's words); nothing else changes a lock's history.
    IF TG_OP = 'UPDATE' AND disposal_in_progress() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'rate_lock_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER rate_lock_events_append_only BEFORE UPDATE OR DELETE ON rate_lock_events
    FOR EACH ROW EXECUTE FUNCTION rate_lock_events_append_only();

-- Pricing exceptions and lock extensions tied to the lock they price; an extension request names its days.
ALTER TABLE escalations
    ADD COLUMN lock_id uuid REFERENCES rate_locks (id) ON DELETE RESTRICT,
    ADD COLUMN extension_days integer CHECK (extension_days BETWEEN 1 AND 60);
CREATE INDEX escalations_lock_idx ON escalations (lock_id) WHERE lock_id IS NOT NULL;
