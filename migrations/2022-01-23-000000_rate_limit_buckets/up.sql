-- Rate-limit buckets shared by every server on this database
-- (CHRONIK_RATE_LIMIT_STORE=postgres). One row per bucket (a token, or a
-- client address), holding GCRA's one number: the theoretical arrival time,
-- the instant at which the bucket is full again. A request moves it on by
-- one emission interval in one atomic upsert, and is refused where that
-- would put it further ahead than the burst allows. A row whose `tat` has
-- passed is a full bucket, the same as no row, so servers delete such rows.
--
-- Unlogged: a bucket changes on every request, and losing them all in a
-- crash only hands every client a full bucket, which is not worth a WAL
-- record per request (nor replication to standbys, which never read it).
CREATE UNLOGGED TABLE rate_limit_buckets (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);
