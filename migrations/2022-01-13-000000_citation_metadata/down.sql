ALTER TABLE event_sources DROP COLUMN published_at, DROP COLUMN publisher, DROP COLUMN title;
