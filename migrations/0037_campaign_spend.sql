-- Spend by campaign (issue 17): monthly spend can be entered for a whole source (campaign '') or for one of its
-- campaigns, by form or CSV import. Source ROI adds every entry of the source; campaign ROI the campaign's own.
ALTER TABLE metrics_source_spend ADD COLUMN campaign text NOT NULL DEFAULT ''
    CHECK (campaign = '' OR length(campaign) BETWEEN 1 AND 100);
ALTER TABLE metrics_source_spend DROP CONSTRAINT metrics_source_spend_pkey;
ALTER TABLE metrics_source_spend ADD PRIMARY KEY (source, campaign, month);
