CREATE FUNCTION chronik_notify_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chronik_changes', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER event_revisions_notify
    AFTER INSERT ON event_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION chronik_notify_changes();
