DROP INDEX events_span;
