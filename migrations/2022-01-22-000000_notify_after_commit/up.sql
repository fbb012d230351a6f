-- Live streams are woken by a NOTIFY that the writing instance sends after
-- its commit (src/live/notify.rs), no longer by this trigger: a transaction
-- that notifies holds a lock that serializes every notifying commit, its
-- WAL flush included, so writes could not commit together. Measured with
-- bench/post-floor.sql at 32 connections on a disk with 4 ms flushes: 138
-- writes/s with the trigger, 301 without (bench/README.md).
DROP TRIGGER event_revisions_notify ON event_revisions;
DROP FUNCTION chronik_notify_changes();
