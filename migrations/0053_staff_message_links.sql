-- Issue 24: a staff email (the copy of a bell notification) keeps the page it links to, as the notification does,
-- so disposal finds the copies that name a borrower by the record's link instead of searching every text.
ALTER TABLE messages ADD COLUMN link text NOT NULL DEFAULT '';
UPDATE messages SET link = substring(body FROM 'Open it: \{\{public_url\}\}(\S+)')
 WHERE audience = 'staff' AND body ~ 'Open it: \{\{public_url\}\}\S+';
