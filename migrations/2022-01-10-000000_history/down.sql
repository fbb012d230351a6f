DROP TRIGGER event_revisions_in_order ON event_revisions;
DROP FUNCTION chronik_check_revision_order();
