DROP INDEX event_revisions_location;
DROP INDEX event_revisions_search;
ALTER TABLE event_revisions DROP COLUMN search, DROP COLUMN search_config, DROP COLUMN lon, DROP COLUMN lat;
DROP INDEX events_location;
DROP INDEX events_search;
ALTER TABLE events DROP COLUMN search, DROP COLUMN search_config;
DROP FUNCTION chronik_websearch(text);
DROP FUNCTION chronik_search_vector(text, text, text);
DROP FUNCTION chronik_ts_config(text);
