//! Building the statements that read events: the filter, keyset paging
//! and sort of lists, exports and statistics. Hand-built (with `SqlBuilder`)
//! because their shape depends on which filters a request gives.

use diesel::sql_types::{Array, Double, Float4, Text, Timestamptz, Uuid as SqlUuid};

use crate::db::sql::SqlBuilder;
use crate::filter::{Cursor, EventFilter, PageRequest, SortOrder};
use crate::models::values::{BBox, EventId, SearchText};

/// The current state of an event as reads serve it: its latest revision's
/// snapshot. Every write stores that snapshot in the transaction that makes
/// the version (and the tests hold row and snapshot equal), so a read is one
/// primary-key probe instead of aggregating actors, sources and timelines
/// per event (bench/README.md, "Design choices measured").
const CURRENT_SNAPSHOT: &str = "(SELECT r.snapshot FROM event_revisions r \
     WHERE r.event_id = e.id AND r.version = e.version) AS snapshot";

/// Revisions (`event_revisions r`) with the columns the filter reads, named
/// as on `events`: what `as_of` reads and the change feed filters.
pub(crate) const REVISION_AS_EVENT: &str = "SELECT r.event_id AS id, r.version, r.occurred_start, r.occurred_from, \
     r.occurred_until, r.event_type, r.country_code, r.status, r.tags, r.actor_keys, r.timeline_slugs, \
     r.lat, r.lon, r.search, r.search_config, r.snapshot, (r.snapshot -> 'casualties')::jsonb AS casualties, \
     r.snapshot ->> 'external_id' AS external_id FROM event_revisions r";

/// Which relation a filter reads as `e`: the current events, or revisions
/// (whose actors and timelines are keys copied into the row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Events,
    Revisions,
}

/// The statement `find` sends.
pub fn push_find(q: &mut SqlBuilder, id: EventId) {
    q.sql("SELECT e.version, ")
        .sql(CURRENT_SNAPSHOT)
        .sql(" FROM events e WHERE e.id = ")
        .bind::<SqlUuid, _>(id.0)
        .sql(" AND e.deleted_at IS NULL");
}

/// Appends `SELECT <event>, rank FROM <events> e WHERE <filter> AND <after> ORDER BY <sort>`.
/// Page and stream read the same statement, so they order and filter alike.
/// Current events are read with their children; events as of an instant are
/// read as the snapshots their revisions keep.
pub fn push_select(
    q: &mut SqlBuilder,
    filter: &EventFilter,
    sort: SortOrder,
    after: Option<&Cursor>,
) {
    // Beyond a date window, how fast a plan is depends on the values (a rare
    // tag, a common country): plan such filters for their values.
    let window_only = EventFilter {
        from: filter.from,
        to: filter.to,
        located: filter.located,
        ..EventFilter::default()
    };
    if *filter != window_only {
        q.plan_each_execution();
    }
    match filter.as_of {
        None => q
            .sql("SELECT e.id, e.occurred_start, ")
            .sql(CURRENT_SNAPSHOT),
        Some(_) => q.sql("SELECT e.id, e.occurred_start, e.snapshot"),
    };
    match (&filter.q, sort) {
        (Some(text), SortOrder::Relevance) => {
            q.sql(", ");
            push_rank(q, text);
            q.sql(" AS rank");
        }
        _ => {
            q.sql(", NULL::real AS rank");
        }
    }
    push_source(q, filter);
    push_filter(q, filter);
    if let Some(after) = after {
        push_after(q, filter, sort, after);
    }
    q.sql(match sort {
        SortOrder::Asc => " ORDER BY e.occurred_start ASC, e.id ASC",
        SortOrder::Desc => " ORDER BY e.occurred_start DESC, e.id DESC",
        SortOrder::Relevance => " ORDER BY rank DESC, e.occurred_start ASC, e.id ASC",
    });
}

/// Appends `FROM <the events the filter reads> e WHERE <they are live>`: the
/// current events, or with `as_of` each event's latest revision known by
/// then, unless that revision deleted it. Both relations name the columns
/// filters use alike, so one filter reads either.
pub fn push_source(q: &mut SqlBuilder, filter: &EventFilter) {
    let Some(as_of) = filter.as_of else {
        q.sql(" FROM events e WHERE e.deleted_at IS NULL");
        return;
    };
    // `known_at` never decreases from one version to the next (the history
    // migration enforces it), so a revision is the latest known by `as_of`
    // exactly when the next version is not yet known by then: one primary-key
    // probe per candidate instead of a scan of the event's history.
    q.sql(" FROM (")
        .sql(REVISION_AS_EVENT)
        .sql(" WHERE NOT r.deleted AND r.known_at <= ")
        .bind::<Timestamptz, _>(as_of)
        .sql(
            " AND NOT EXISTS (SELECT 1 FROM event_revisions n \
         WHERE n.event_id = r.event_id AND n.version = r.version + 1 AND n.known_at <= ",
        )
        .bind::<Timestamptz, _>(as_of)
        .sql(")) e WHERE TRUE");
}

/// Keyset paging: only rows that come after `after` in `sort` order.
fn push_after(q: &mut SqlBuilder, filter: &EventFilter, sort: SortOrder, after: &Cursor) {
    match (sort, &filter.q, after.rank) {
        (SortOrder::Relevance, Some(text), Some(rank)) => {
            // Rank descending, then start and id ascending: a lower rank, or
            // the same rank and a later position.
            q.sql(" AND (");
            push_rank(q, text);
            q.sql(" < ").bind::<Float4, _>(rank).sql(" OR (");
            push_rank(q, text);
            q.sql(" = ").bind::<Float4, _>(rank).sql(" AND ");
            push_position(q, ">", after);
            q.sql("))");
        }
        (SortOrder::Desc, _, _) => {
            q.sql(" AND ");
            push_position(q, "<", after);
        }
        _ => {
            q.sql(" AND ");
            push_position(q, ">", after);
        }
    }
}

fn push_position(q: &mut SqlBuilder, cmp: &str, after: &Cursor) {
    q.sql(&format!("(e.occurred_start, e.id) {cmp} ("))
        .bind::<Timestamptz, _>(after.occurred_start)
        .sql(", ")
        .bind::<SqlUuid, _>(after.id.0)
        .sql(")");
}

/// The statement `list` sends: one row more than the page, to tell whether another follows.
pub fn push_list(q: &mut SqlBuilder, filter: &EventFilter, page: &PageRequest) {
    push_select(q, filter, page.sort, page.after.as_ref());
    q.sql(" LIMIT ")
        .bind::<diesel::sql_types::BigInt, _>(page.limit + 1);
}

/// Appends a query for the relation of events matching `filter` with the
/// columns statistics aggregate over: `id, occurred_start, event_type,
/// casualties`. Statistics read events only through this.
pub fn push_matching(q: &mut SqlBuilder, filter: &EventFilter) {
    q.sql("SELECT e.id, e.occurred_start, e.event_type, e.casualties");
    push_source(q, filter);
    push_filter(q, filter);
}

/// Appends the WHERE conditions of `filter` to a query over `events e`
/// (or over revisions, with `as_of`).
pub fn push_filter(q: &mut SqlBuilder, filter: &EventFilter) {
    let relation = match filter.as_of {
        None => Relation::Events,
        Some(_) => Relation::Revisions,
    };
    push_filter_on(q, filter, relation);
}

/// Appends the WHERE conditions of `filter` to a query over `relation` as `e`.
pub(crate) fn push_filter_on(q: &mut SqlBuilder, filter: &EventFilter, relation: Relation) {
    // Interval overlap: [occurred_from, occurred_until] meets [from, to].
    if let Some(from) = filter.from {
        q.sql(" AND e.occurred_until >= ")
            .bind::<Timestamptz, _>(from);
        // Implied by the overlap, and what lets the start index begin its
        // scan at the window rather than at the first event ever (see the
        // duration_bounds migration). The cast types the bind for clients
        // that send it untyped (pgbench, in bench/run).
        q.sql(" AND e.occurred_start >= ")
            .bind::<Timestamptz, _>(from)
            .sql(match relation {
                Relation::Events => {
                    "::timestamptz - (SELECT COALESCE(max(d.occurred_until - d.occurred_start), interval '0') \
                     FROM events d WHERE d.deleted_at IS NULL)"
                }
                Relation::Revisions => {
                    "::timestamptz - (SELECT COALESCE(max(d.occurred_until - d.occurred_start), interval '0') \
                     FROM event_revisions d)"
                }
            });
    }
    if let Some(to) = filter.to {
        q.sql(" AND e.occurred_from <= ").bind::<Timestamptz, _>(to);
        // Implied, as the bound on `from` above, and what lets the start
        // index stop its scan just past the window (see the vague_starts
        // migration).
        q.sql(" AND e.occurred_start <= ")
            .bind::<Timestamptz, _>(to)
            .sql(match relation {
                Relation::Events => {
                    "::timestamptz + (SELECT COALESCE(max(d.occurred_start - d.occurred_from), interval '0') \
                     FROM events d WHERE d.deleted_at IS NULL)"
                }
                Relation::Revisions => {
                    "::timestamptz + (SELECT COALESCE(max(d.occurred_start - d.occurred_from), interval '0') \
                     FROM event_revisions d)"
                }
            });
    }
    if !filter.types.is_empty() {
        q.sql(" AND e.event_type = ANY(")
            .bind::<Array<Text>, _>(strings(&filter.types))
            .sql(")");
    }
    if !filter.countries.is_empty() {
        q.sql(" AND e.country_code = ANY(")
            .bind::<Array<Text>, _>(strings(&filter.countries))
            .sql(")");
    }
    if let (Some(actor), Relation::Revisions) = (&filter.actor, relation) {
        // Revisions keep the actors' and timelines' keys they had then.
        q.sql(" AND e.actor_keys @> ARRAY[lower(")
            .bind::<Text, _>(actor.to_string())
            .sql(")]");
    } else if let Some(actor) = &filter.actor {
        q.sql(
            " AND EXISTS (SELECT 1 FROM event_actors ea JOIN actors a ON a.id = ea.actor_id \
             WHERE ea.event_id = e.id AND a.name_key = lower(",
        )
        .bind::<Text, _>(actor.to_string())
        .sql("))");
    }
    if !filter.tags.is_empty() {
        q.sql(" AND e.tags && ")
            .bind::<Array<Text>, _>(strings(&filter.tags));
    }
    if let (Some(timeline), Relation::Revisions) = (&filter.timeline, relation) {
        q.sql(" AND e.timeline_slugs @> ARRAY[")
            .bind::<Text, _>(timeline.to_string())
            .sql("]");
    } else if let Some(timeline) = &filter.timeline {
        q.sql(
            " AND EXISTS (SELECT 1 FROM event_timelines et JOIN timelines t ON t.id = et.timeline_id \
             WHERE et.event_id = e.id AND t.slug = ",
        )
        .bind::<Text, _>(timeline.to_string())
        .sql(")");
    }
    if let Some(external_id) = &filter.external_id {
        q.sql(" AND e.external_id = ")
            .bind::<Text, _>(external_id.to_string());
    }
    if !filter.statuses.is_empty() {
        let statuses: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        q.sql(" AND e.status = ANY(")
            .bind::<Array<Text>, _>(statuses)
            .sql(")");
    }
    if let Some(text) = &filter.q {
        // The index finds the candidates; each is then matched with the query
        // parsed the way its own text was (see the search_geo migration).
        q.sql(" AND e.search @@ chronik_websearch(")
            .bind::<Text, _>(text.to_string())
            .sql(") AND e.search @@ ");
        push_own_query(q, text);
    }
    if let Some(bbox) = &filter.bbox {
        push_bbox(q, bbox);
    }
    if filter.located {
        q.sql(" AND e.lat IS NOT NULL AND e.lon IS NOT NULL");
    }
}

/// `q` parsed with the row's own text search configuration.
fn push_own_query(q: &mut SqlBuilder, text: &SearchText) {
    q.sql("websearch_to_tsquery(e.search_config, ")
        .bind::<Text, _>(text.to_string())
        .sql(")");
}

/// How well a row matches `q`: cover density, damped for long texts, title
/// words weighing more than summary words.
fn push_rank(q: &mut SqlBuilder, text: &SearchText) {
    q.sql("ts_rank_cd(e.search, ");
    push_own_query(q, text);
    q.sql(", 1)");
}

/// `point(lon, lat) <@ box`, which the GiST index on `point(lon, lat)`
/// answers; a box across the antimeridian is the two boxes either side of it.
fn push_bbox(q: &mut SqlBuilder, bbox: &BBox) {
    let boxes = if bbox.crosses_antimeridian() {
        vec![
            (bbox.min_lon, 180.0, bbox.min_lat, bbox.max_lat),
            (-180.0, bbox.max_lon, bbox.min_lat, bbox.max_lat),
        ]
    } else {
        vec![(bbox.min_lon, bbox.max_lon, bbox.min_lat, bbox.max_lat)]
    };
    q.sql(" AND (");
    for (i, (min_lon, max_lon, min_lat, max_lat)) in boxes.into_iter().enumerate() {
        if i > 0 {
            q.sql(" OR ");
        }
        q.sql("point(e.lon, e.lat) <@ box(point(")
            .bind::<Double, _>(min_lon)
            .sql(", ")
            .bind::<Double, _>(min_lat)
            .sql("), point(")
            .bind::<Double, _>(max_lon)
            .sql(", ")
            .bind::<Double, _>(max_lat)
            .sql("))");
    }
    q.sql(")");
}

pub(super) fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}
