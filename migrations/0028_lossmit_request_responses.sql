-- Issue 18 item 8: the servicer's answer to a notice of error or request for information is a letter
-- (1024.35(e)(1), 1024.36(d)(1)), and so is the notice extending the time to answer (1024.35(e)(3)(ii),
-- 1024.36(d)(2)(ii)). What they said is kept on the request, and the letters are filed with the others.
ALTER TABLE lossmit_borrower_requests
    ADD COLUMN response_outcome text CHECK (response_outcome IN ('corrected', 'no_error', 'provided', 'not_available')),
    ADD COLUMN response_text text NOT NULL DEFAULT '',
    ADD COLUMN extension_reason text NOT NULL DEFAULT '';
ALTER TABLE lossmit_letters DROP CONSTRAINT lossmit_letters_kind_check;
ALTER TABLE lossmit_letters ADD CONSTRAINT lossmit_letters_kind_check
    CHECK (kind IN ('early_intervention', 'complete_application', 'decision', 'acknowledgment', 'request_response',
                     'request_extension'));
ALTER TABLE lossmit_letters ADD COLUMN request_id bigint REFERENCES lossmit_borrower_requests (id) ON DELETE RESTRICT;
