-- Notices of error (12 CFR 1024.35) and requests for information (1024.36) a borrower sends about their loan,
-- with the dates the servicer acknowledged, extended and answered them. The clocks are computed from these
-- facts (src/lossmit/requests.rs), never stored.
CREATE TABLE lossmit_borrower_requests (
    id               bigserial PRIMARY KEY,
    case_id          uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    kind             text NOT NULL CHECK (kind IN ('notice_of_error', 'information_request')),
    category         text NOT NULL CHECK (category IN ('payoff_statement', 'owner_identity', 'foreclosure', 'payment',
                                                       'escrow', 'fees', 'loss_mitigation', 'other')),
    channel          text NOT NULL CHECK (channel IN ('mail', 'email', 'phone', 'portal', 'fax')),
    received_on      date NOT NULL,
    summary          text NOT NULL DEFAULT '',
    acknowledged_on  date,
    extended_on      date,
    responded_on     date,
    created_by       uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (acknowledged_on IS NULL OR acknowledged_on >= received_on),
    CHECK (extended_on IS NULL OR extended_on >= received_on),
    CHECK (responded_on IS NULL OR responded_on >= received_on)
);
CREATE INDEX lossmit_borrower_requests_case_idx ON lossmit_borrower_requests (case_id, received_on);
CREATE INDEX lossmit_borrower_requests_open_idx ON lossmit_borrower_requests (received_on) WHERE responded_on IS NULL;
