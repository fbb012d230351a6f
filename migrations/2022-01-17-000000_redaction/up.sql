-- Redaction: an admin erases a deleted event's content from its history
-- (legal takedowns). Each redaction is recorded here, with who and why.
CREATE TABLE event_redactions (
    event_id    uuid PRIMARY KEY REFERENCES events (id),
    redacted_at timestamptz NOT NULL DEFAULT now(),
    -- The token id of the admin who redacted; NULL from the command line.
    redacted_by text,
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1000),
    -- How many revisions were rewritten.
    revisions   integer NOT NULL CHECK (revisions >= 1)
);

-- History stays append-only, with one exception: the revisions of an event
-- with a recorded redaction may be rewritten by the transaction that
-- announces it with `SET LOCAL chronik.redacting = '<event id>'`. Nothing
-- else may update or delete a revision, and the key columns never change.
CREATE OR REPLACE FUNCTION chronik_forbid_history_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Nested: OLD is NULL for TRUNCATE, which is always refused.
    IF TG_OP = 'UPDATE' THEN
        IF current_setting('chronik.redacting', true) = OLD.event_id::text
           AND NEW.event_id = OLD.event_id AND NEW.version = OLD.version
           AND EXISTS (SELECT 1 FROM event_redactions r WHERE r.event_id = OLD.event_id) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'event_revisions is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
