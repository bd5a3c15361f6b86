-- Past-client portfolio, retention opportunities and outbound webhooks.

-- Closed (funded) loans: imported from the LOS or created when a lead reaches `funded`.
CREATE TABLE portfolio_loans (
    id                   uuid PRIMARY KEY,
    loan_number          text NOT NULL,
    borrower_name        text NOT NULL,
    co_borrower_name     text,
    email                text,
    phone                text,
    property_state       text,
    property_zip         text,
    loan_amount_cents    bigint CHECK (loan_amount_cents > 0),
    note_rate            numeric(6, 3) CHECK (note_rate > 0 AND note_rate < 30),
    term_months          int NOT NULL DEFAULT 360 CHECK (term_months BETWEEN 12 AND 480),
    product              text NOT NULL CHECK (product IN ('conventional', 'fha', 'va', 'jumbo', 'arm')),
    arm_reset_on         date,
    closed_on            date NOT NULL,
    lo_id                uuid REFERENCES users (id) ON DELETE RESTRICT,
    team_id              uuid REFERENCES teams (id) ON DELETE RESTRICT,
    lead_id              uuid REFERENCES leads (id) ON DELETE RESTRICT,
    original_value_cents bigint CHECK (original_value_cents > 0),
    paid_off_on          date,
    payoff_reason        text CHECK (payoff_reason IN ('refinanced_with_us', 'lost_to_competitor', 'sold', 'other')),
    opted_out            boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT portfolio_loans_loan_number_key UNIQUE (loan_number),
    CONSTRAINT portfolio_loans_lead_key UNIQUE (lead_id)
);
CREATE INDEX portfolio_loans_lo_idx ON portfolio_loans (lo_id, closed_on DESC);
CREATE INDEX portfolio_loans_team_idx ON portfolio_loans (team_id, closed_on DESC);
CREATE INDEX portfolio_loans_active_idx ON portfolio_loans (closed_on) WHERE paid_off_on IS NULL;

-- Today's market rates by product, entered or imported by admins; the latest effective one counts.
CREATE TABLE market_rates (
    id           bigserial PRIMARY KEY,
    product      text NOT NULL CHECK (product IN ('conventional', 'fha', 'va', 'jumbo', 'arm')),
    rate         numeric(6, 3) NOT NULL CHECK (rate > 0 AND rate < 30),
    effective_on date NOT NULL,
    entered_by   uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT market_rates_product_day_key UNIQUE (product, effective_on)
);

-- Yearly home-price appreciation by state, for estimated values and LTVs.
CREATE TABLE appreciation_index (
    state       text PRIMARY KEY,
    annual_pct  numeric(6, 3) NOT NULL CHECK (annual_pct > -50 AND annual_pct < 50),
    updated_by  uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row: how rate watch decides.
CREATE TABLE retention_settings (
    id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
    threshold_bps       int NOT NULL DEFAULT 75 CHECK (threshold_bps BETWEEN 0 AND 1000),
    closing_cost_cents  bigint NOT NULL DEFAULT 400000 CHECK (closing_cost_cents >= 0),
    cooldown_days       int NOT NULL DEFAULT 90 CHECK (cooldown_days BETWEEN 1 AND 730),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retention_settings (id) VALUES (true);

-- Retention opportunities for LOs (or their team's queue when the original LO has left).
CREATE TABLE opportunities (
    id                uuid PRIMARY KEY,
    loan_id           uuid NOT NULL REFERENCES portfolio_loans (id) ON DELETE RESTRICT,
    kind              text NOT NULL CHECK (kind IN ('rate_watch', 'arm_reset', 'mi_removal', 'anniversary', 'fha_to_conventional')),
    why               text NOT NULL,
    numbers           jsonb NOT NULL DEFAULT '{}',
    lo_id             uuid REFERENCES users (id) ON DELETE RESTRICT,
    team_id           uuid REFERENCES teams (id) ON DELETE RESTRICT,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'worked', 'converted', 'dismissed')),
    status_changed_at timestamptz,
    status_changed_by uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at        timestamptz NOT NULL DEFAULT now()
);
-- At most one open opportunity per loan and kind; the cool-down is checked under the scan's lock.
CREATE UNIQUE INDEX opportunities_one_open_idx ON opportunities (loan_id, kind) WHERE status = 'open';
CREATE INDEX opportunities_loan_kind_idx ON opportunities (loan_id, kind, created_at DESC);
CREATE INDEX opportunities_lo_idx ON opportunities (lo_id, created_at DESC);
CREATE INDEX opportunities_team_idx ON opportunities (team_id, created_at DESC);

-- Loans a trigger would have fired for but did not (opted out, …), so the skip is visible.
CREATE TABLE opportunity_skips (
    id          bigserial PRIMARY KEY,
    loan_id     uuid NOT NULL REFERENCES portfolio_loans (id) ON DELETE RESTRICT,
    kind        text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opportunity_skips_loan_idx ON opportunity_skips (loan_id, kind, created_at DESC);
CREATE INDEX opportunity_skips_created_idx ON opportunity_skips (created_at DESC);

-- A lead can name the past client who referred it.
ALTER TABLE leads ADD COLUMN referred_by_loan_id uuid REFERENCES portfolio_loans (id) ON DELETE RESTRICT;
CREATE INDEX leads_referred_by_loan_idx ON leads (referred_by_loan_id) WHERE referred_by_loan_id IS NOT NULL;

-- Outbound webhooks.
CREATE TABLE webhook_endpoints (
    id           uuid PRIMARY KEY,
    url          text NOT NULL,
    secret       text NOT NULL,
    events       text[] NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    -- A host an admin explicitly allowed even though it resolves to a private or loopback address.
    allowed_host text,
    created_by   uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE RESTRICT,
    event            text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'delivered', 'failed', 'refused')),
    attempts         int NOT NULL DEFAULT 0,
    last_status_code int,
    last_error       text,
    next_attempt_at  timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at DESC);
