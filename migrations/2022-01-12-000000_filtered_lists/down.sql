DROP INDEX events_type_country_start;
