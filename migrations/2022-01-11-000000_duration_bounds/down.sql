DROP INDEX event_revisions_duration;
DROP INDEX events_duration;
