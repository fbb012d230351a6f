-- A list filtered by type and country together (the benchmark's "filtered
-- page") walks this index in order instead of one of the single-column ones
-- and filtering the other: about 30 ms instead of 200 ms per page on the 1M
-- benchmark store (bench/README.md).
CREATE INDEX events_type_country_start ON events (event_type, country_code, occurred_start, id)
    WHERE deleted_at IS NULL;
