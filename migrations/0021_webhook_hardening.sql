-- Outbound webhooks to an examiner's bar (issue 15, item 7).
--
-- plain_http_host: deliveries go over HTTPS only; an admin may allow plain HTTP for one named host on an
-- endpoint (it must be the URL's host). Existing http:// endpoints are not grandfathered: their deliveries are
-- refused, with the reason in the delivery log, until an admin allows the host.
-- include_contact: payloads carry ids, stages and amounts only; an admin may opt an endpoint in to the
-- borrower's contact details (names, email, phone).
ALTER TABLE webhook_endpoints
    ADD COLUMN plain_http_host text,
    ADD COLUMN include_contact boolean NOT NULL DEFAULT false;

-- No endpoint has opted in yet, so no stored delivery keeps a borrower's contact details.
UPDATE webhook_deliveries
SET payload = payload #- '{lead,first_name}' #- '{lead,last_name}' #- '{lead,email}' #- '{lead,phone}'
                      #- '{lead,consent}' #- '{lead,property_zip}'
WHERE payload ? 'lead';
