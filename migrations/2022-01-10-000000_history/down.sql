DROP INDEX event_revisions_tags;
DROP INDEX event_revisions_timeline_slugs;
DROP INDEX event_revisions_actor_keys;
DROP TRIGGER event_revisions_in_order ON event_revisions;
DROP FUNCTION chronik_check_revision_order();
