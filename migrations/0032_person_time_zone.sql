-- The time zone a person reads and types times in (pages, forms, notifications, downloads). NULL means the
-- organisation's zone (`--timezone`). An LO's working hours keep their own zone in lo_profiles.timezone.
ALTER TABLE users ADD COLUMN display_timezone text;
