-- Issue 21: loan options a borrower compares side by side.
--
-- Money is integer cents, rates thousandths of a percent (6.875% is 6875), premiums and points basis points.
-- A scenario is one option on a lead; every save is a new immutable row of loan_scenario_versions (edits and
-- duplicates keep the old versions), and loan_scenarios.version names the current one (optimistic: a save
-- based on an older version is refused).

-- The admin's monthly PMI table: the annual premium for a loan-to-value band and a credit-score band.
CREATE TABLE pmi_rates (
    id uuid PRIMARY KEY,
    -- The band covers LTVs above ltv_from_bps up to and including ltv_to_bps (8000 < LTV <= 8500).
    ltv_from_bps integer NOT NULL CHECK (ltv_from_bps BETWEEN 0 AND 10000),
    ltv_to_bps integer NOT NULL CHECK (ltv_to_bps BETWEEN 1 AND 10500),
    -- Credit scores from credit_from to credit_to inclusive.
    credit_from integer NOT NULL CHECK (credit_from BETWEEN 300 AND 850),
    credit_to integer NOT NULL CHECK (credit_to BETWEEN 300 AND 850),
    annual_bps integer NOT NULL CHECK (annual_bps BETWEEN 0 AND 1000),
    created_by uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ltv_from_bps < ltv_to_bps),
    CHECK (credit_from <= credit_to)
);
CREATE UNIQUE INDEX pmi_rates_band_idx ON pmi_rates (ltv_from_bps, ltv_to_bps, credit_from, credit_to);

CREATE TABLE loan_scenarios (
    id uuid PRIMARY KEY,
    lead_id uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    -- The current version (loan_scenario_versions.version).
    version integer NOT NULL DEFAULT 1,
    -- A duplicate names the scenario and version it was copied from.
    copied_from uuid REFERENCES loan_scenarios (id) ON DELETE RESTRICT,
    copied_version integer,
    created_by uuid REFERENCES users (id) ON DELETE RESTRICT,
    archived_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loan_scenarios_lead_idx ON loan_scenarios (lead_id, created_at) WHERE archived_at IS NULL;

CREATE TABLE loan_scenario_versions (
    scenario_id uuid NOT NULL REFERENCES loan_scenarios (id) ON DELETE RESTRICT,
    version integer NOT NULL CHECK (version >= 1),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    program text NOT NULL CHECK (program IN ('conventional', 'fha', 'va', 'jumbo')),
    rate_type text NOT NULL CHECK (rate_type IN ('fixed', 'arm')),
    property_value_cents bigint NOT NULL CHECK (property_value_cents > 0),
    loan_amount_cents bigint NOT NULL CHECK (loan_amount_cents > 0),
    rate_milli integer NOT NULL CHECK (rate_milli BETWEEN 1 AND 25000),
    term_months integer NOT NULL CHECK (term_months BETWEEN 12 AND 480),
    points_bps integer NOT NULL DEFAULT 0 CHECK (points_bps BETWEEN -500 AND 500),
    credit_score integer CHECK (credit_score BETWEEN 300 AND 850),
    -- The PMI rate the admin's table gave when this version was saved (figures stay as they were shown).
    pmi_annual_bps integer NOT NULL DEFAULT 0 CHECK (pmi_annual_bps BETWEEN 0 AND 1000),
    fha_upfront_bps integer NOT NULL DEFAULT 0 CHECK (fha_upfront_bps BETWEEN 0 AND 1000),
    fha_annual_bps integer NOT NULL DEFAULT 0 CHECK (fha_annual_bps BETWEEN 0 AND 1000),
    va_funding_fee_bps integer NOT NULL DEFAULT 0 CHECK (va_funding_fee_bps BETWEEN 0 AND 1000),
    arm_initial_months integer CHECK (arm_initial_months BETWEEN 1 AND 480),
    arm_adjust_months integer CHECK (arm_adjust_months BETWEEN 1 AND 120),
    arm_initial_cap_milli integer CHECK (arm_initial_cap_milli BETWEEN 0 AND 15000),
    arm_periodic_cap_milli integer CHECK (arm_periodic_cap_milli BETWEEN 0 AND 15000),
    arm_lifetime_cap_milli integer CHECK (arm_lifetime_cap_milli BETWEEN 0 AND 15000),
    arm_margin_milli integer CHECK (arm_margin_milli BETWEEN 0 AND 15000),
    arm_index_milli integer CHECK (arm_index_milli BETWEEN 0 AND 20000),
    monthly_taxes_cents bigint NOT NULL DEFAULT 0 CHECK (monthly_taxes_cents >= 0),
    monthly_insurance_cents bigint NOT NULL DEFAULT 0 CHECK (monthly_insurance_cents >= 0),
    monthly_hoa_cents bigint NOT NULL DEFAULT 0 CHECK (monthly_hoa_cents >= 0),
    down_payment_cents bigint NOT NULL DEFAULT 0 CHECK (down_payment_cents >= 0),
    closing_date date NOT NULL,
    first_payment_date date NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scenario_id, version),
    CHECK (rate_type = 'fixed' OR (arm_initial_months IS NOT NULL AND arm_adjust_months IS NOT NULL
        AND arm_initial_cap_milli IS NOT NULL AND arm_periodic_cap_milli IS NOT NULL
        AND arm_lifetime_cap_milli IS NOT NULL AND arm_margin_milli IS NOT NULL AND arm_index_milli IS NOT NULL))
);

-- A version's itemised closing costs, each marked as a prepaid finance charge or not.
CREATE TABLE loan_scenario_costs (
    scenario_id uuid NOT NULL,
    version integer NOT NULL,
    position integer NOT NULL CHECK (position BETWEEN 0 AND 39),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    is_prepaid_finance_charge boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scenario_id, version, position),
    FOREIGN KEY (scenario_id, version) REFERENCES loan_scenario_versions (scenario_id, version) ON DELETE RESTRICT
);

CREATE FUNCTION loan_scenario_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER loan_scenario_versions_immutable BEFORE UPDATE OR DELETE ON loan_scenario_versions
    FOR EACH ROW EXECUTE FUNCTION loan_scenario_versions_immutable();
CREATE TRIGGER loan_scenario_costs_immutable BEFORE UPDATE OR DELETE ON loan_scenario_costs
    FOR EACH ROW EXECUTE FUNCTION loan_scenario_versions_immutable();

-- A read-only link the LO sends the borrower: the token is shown once and stored as its SHA-256.
CREATE TABLE loan_option_links (
    id uuid PRIMARY KEY,
    lead_id uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    token_hash text NOT NULL UNIQUE,
    -- The options the borrower sees, in this order (their current versions).
    scenario_ids uuid[] NOT NULL CHECK (cardinality(scenario_ids) BETWEEN 1 AND 4),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_by uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_by uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loan_option_links_lead_idx ON loan_option_links (lead_id, created_at);

-- Each time the borrower opened a link.
CREATE TABLE loan_option_link_views (
    id bigserial PRIMARY KEY,
    link_id uuid NOT NULL REFERENCES loan_option_links (id) ON DELETE RESTRICT,
    viewed_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loan_option_link_views_link_idx ON loan_option_link_views (link_id, viewed_at);
