//! All SQL for events: reads with their actors, sources and timelines in one
//! round trip, and writes that append a revision in the same transaction.

use chrono::{DateTime, Utc};
use diesel::deserialize::FromSql;
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::{
    Array, Double, Float4, Integer, Json, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::{QueryableByName, result::Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::time::Instant;
use uuid::Uuid;

use super::sql::SqlBuilder;
use crate::error::{ApiError, FieldError};
use crate::filter::{Cursor, EventFilter, PageRequest, SortOrder};
use crate::models::event::{Event, EventInput, Location, StoredEvent};
use crate::models::revision::ChangeKind;
use crate::models::values::{BBox, EventId, SearchText, TimelineSlug};

/// Selects complete events from their rows, children aggregated per row:
/// the state a write starts from, read inside its transaction.
const SELECT_EVENTS: &str = "\
SELECT e.id, e.external_id, e.title, e.summary, e.language, e.event_type, e.occurred_start, e.occurred_end, \
       e.precision, e.timezone, e.location_name, e.admin1, e.country_code, e.lat, e.lon, e.casualties, e.status, \
       e.tags, e.version, e.created_at, e.updated_at, \
       COALESCE((SELECT jsonb_agg(jsonb_build_object('name', a.name, 'role', ea.role) ORDER BY ea.position) \
                 FROM event_actors ea JOIN actors a ON a.id = ea.actor_id WHERE ea.event_id = e.id), '[]') AS actors, \
       COALESCE((SELECT jsonb_agg(jsonb_build_object('url', s.url, 'title', es.title, 'publisher', es.publisher, \
                                  'published_at', es.published_at, 'via', es.via, 'quote', es.quote) ORDER BY es.position) \
                 FROM event_sources es JOIN sources s ON s.id = es.source_id WHERE es.event_id = e.id), '[]') AS sources, \
       ARRAY(SELECT t.slug FROM event_timelines et JOIN timelines t ON t.id = et.timeline_id \
             WHERE et.event_id = e.id ORDER BY t.slug) AS timelines \
FROM events e";

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    summary: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    language: Option<String>,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Timestamptz)]
    occurred_start: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    occurred_end: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    precision: String,
    #[diesel(sql_type = Nullable<Text>)]
    timezone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    location_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    admin1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    country_code: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    lat: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    lon: Option<f64>,
    #[diesel(sql_type = Jsonb)]
    casualties: serde_json::Value,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Array<Text>)]
    tags: Vec<String>,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    actors: serde_json::Value,
    #[diesel(sql_type = Jsonb)]
    sources: serde_json::Value,
    #[diesel(sql_type = Array<Text>)]
    timelines: Vec<String>,
}

impl EventRow {
    fn into_event(self) -> Result<Event, ApiError> {
        let location = match (self.location_name, self.country_code) {
            (Some(name), Some(country_code)) => Some(Location {
                name,
                admin1: self.admin1,
                country_code: parse_stored(country_code)?,
                lat: self.lat,
                lon: self.lon,
            }),
            _ => None,
        };
        Ok(Event {
            id: EventId(self.id),
            external_id: self.external_id.map(parse_stored).transpose()?,
            title: self.title,
            summary: self.summary,
            language: self.language,
            event_type: parse_stored(self.event_type)?,
            occurred_start: self.occurred_start,
            occurred_end: self.occurred_end,
            precision: parse_stored(self.precision)?,
            timezone: self.timezone,
            location,
            actors: from_json(self.actors)?,
            casualties: from_json(self.casualties)?,
            sources: from_json(self.sources)?,
            status: parse_stored(self.status)?,
            tags: self.tags,
            timelines: self
                .timelines
                .into_iter()
                .map(parse_stored::<TimelineSlug>)
                .collect::<Result<_, _>>()?,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Values read back from the database passed the same checks on the way in;
/// failing here means the schema and the code disagree.
pub(super) fn parse_stored<T: std::str::FromStr<Err = String>>(s: String) -> Result<T, ApiError> {
    s.parse()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored value does not parse: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(ApiError::internal)
}

/// The current state of an event as reads serve it: its latest revision's
/// snapshot. Every write stores that snapshot in the transaction that makes
/// the version (and the tests hold row and snapshot equal), so a read is one
/// primary-key probe instead of aggregating actors, sources and timelines
/// per event (bench/README.md: a sixth of the timeline page's cost).
const CURRENT_SNAPSHOT: &str = "(SELECT r.snapshot FROM event_revisions r \
     WHERE r.event_id = e.id AND r.version = e.version) AS snapshot";

/// One live event as stored, with its version; `None` if it does not exist
/// or is deleted.
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: EventId,
) -> Result<Option<(i32, StoredEvent)>, ApiError> {
    let mut q = SqlBuilder::new("");
    push_find(&mut q, id);
    let rows: Vec<FoundRow> = q.build().load(conn).await?;
    Ok(rows
        .into_iter()
        .next()
        .map(|row| (row.version, row.snapshot)))
}

#[derive(QueryableByName)]
struct FoundRow {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Json)]
    snapshot: StoredEvent,
}

/// The statement `find` sends.
pub fn push_find(q: &mut SqlBuilder, id: EventId) {
    q.sql("SELECT e.version, ")
        .sql(CURRENT_SNAPSHOT)
        .sql(" FROM events e WHERE e.id = ")
        .bind::<SqlUuid, _>(id.0)
        .sql(" AND e.deleted_at IS NULL");
}

/// Reads an event back from its rows inside the transaction that wrote it,
/// before its revision exists: what that revision's snapshot will hold.
async fn get(conn: &mut AsyncPgConnection, id: EventId) -> Result<Event, ApiError> {
    let mut q = SqlBuilder::new(SELECT_EVENTS);
    q.sql(" WHERE e.id = ").bind::<SqlUuid, _>(id.0);
    let rows: Vec<EventRow> = q.build().load(conn).await?;
    rows.into_iter()
        .next()
        .map(EventRow::into_event)
        .transpose()?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "event {id} vanished inside its transaction"
            ))
        })
}

/// One page of events, and where the next page starts (`None` on the last).
#[derive(Debug)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    pub next: Option<Cursor>,
}

/// Appends `SELECT <event>, rank FROM <events> e WHERE <filter> AND <after> ORDER BY <sort>`.
/// Page and stream read the same statement, so they order and filter alike.
/// Current events are read with their children; events as of an instant are
/// read as the snapshots their revisions keep.
pub(crate) fn push_select(
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
pub(super) fn push_source(q: &mut SqlBuilder, filter: &EventFilter) {
    let Some(as_of) = filter.as_of else {
        q.sql(" FROM events e WHERE e.deleted_at IS NULL");
        return;
    };
    // `known_at` never decreases from one version to the next (the history
    // migration enforces it), so a revision is the latest known by `as_of`
    // exactly when the next version is not yet known by then: one primary-key
    // probe per candidate instead of a scan of the event's history.
    q.sql(
        " FROM (SELECT r.event_id AS id, r.occurred_start, r.occurred_from, r.occurred_until, r.event_type, r.country_code, \
         r.status, r.tags, r.actor_keys, r.timeline_slugs, r.lat, r.lon, r.search, r.search_config, \
         r.snapshot, (r.snapshot -> 'casualties')::jsonb AS casualties, \
         r.snapshot ->> 'external_id' AS external_id \
         FROM event_revisions r WHERE NOT r.deleted AND r.known_at <= ",
    )
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

/// One page of events matching `filter`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Page, ApiError> {
    let mut q = SqlBuilder::new("");
    push_list(&mut q, filter, page);
    let mut rows = load_listed(conn, q.build()).await?;
    let has_more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let next = match rows.last() {
        Some(last) if has_more => Some(Cursor {
            occurred_start: last.occurred_start,
            id: EventId(last.id),
            sort: page.sort,
            rank: last.rank,
        }),
        _ => None,
    };
    let events = rows.into_iter().map(|row| row.snapshot).collect();
    Ok(Page { events, next })
}

/// A listed event: the snapshot of its current (or, with `as_of`, its then
/// current) revision, where it sorts, and its full-text rank when sorted by
/// relevance.
#[derive(QueryableByName)]
struct ListedRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    occurred_start: DateTime<Utc>,
    #[diesel(sql_type = Json)]
    snapshot: StoredEvent,
    #[diesel(sql_type = Nullable<Float4>)]
    rank: Option<f32>,
}

/// Runs a statement `push_select` built (or a FETCH from its cursor).
async fn load_listed(
    conn: &mut AsyncPgConnection,
    query: super::sql::Query,
) -> Result<Vec<ListedRow>, ApiError> {
    Ok(query.load(conn).await?)
}

/// A `json` value arrives as the JSON text it was stored as; the text is
/// kept, not parsed (see [`StoredEvent`]).
impl FromSql<Json, Pg> for StoredEvent {
    fn from_sql(value: PgValue<'_>) -> diesel::deserialize::Result<Self> {
        Ok(StoredEvent::from_stored_json(
            std::str::from_utf8(value.as_bytes())?.to_owned(),
        ))
    }
}

/// Why a scan ended early.
#[derive(Debug)]
pub enum ScanError {
    Failed(ApiError),
    /// The receiver went away (the client disconnected).
    Closed,
    /// The receiver took no batch for `SCAN_SEND_TIMEOUT` (a stalled client).
    Stalled,
    /// The scan ran to its deadline (`CHRONIK_EXPORT_MAX_DURATION`).
    Expired,
}

impl From<DieselError> for ScanError {
    fn from(err: DieselError) -> Self {
        Self::Failed(err.into())
    }
}

impl From<ApiError> for ScanError {
    fn from(err: ApiError) -> Self {
        Self::Failed(err)
    }
}

/// Rows fetched per round trip while scanning.
pub const SCAN_BATCH: usize = 1000;
/// How long a scan waits for its receiver to take a batch before giving up.
pub const SCAN_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Sends every event matching `filter`, in `sort` order, to `out` in batches
/// of `SCAN_BATCH`, all read from one snapshot (a read-only transaction
/// holding a server-side cursor over the same statement a page reads). The
/// first batch is sent even when empty, so the receiver learns that the
/// query ran. Memory stays bounded by the channel's capacity, however many
/// events match: the scan waits while the receiver is behind. It ends at
/// `deadline`, however fast or slowly the receiver takes batches, so that no
/// reader holds the connection and the snapshot for longer.
pub async fn scan(
    conn: &mut AsyncPgConnection,
    filter: &EventFilter,
    sort: SortOrder,
    out: &Sender<Vec<StoredEvent>>,
    deadline: Option<Instant>,
) -> Result<(), ScanError> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(async |conn| {
            let mut q = SqlBuilder::new("DECLARE chronik_scan NO SCROLL CURSOR FOR ");
            push_select(&mut q, filter, sort, None);
            q.build().execute(conn).await?;
            let fetch = format!("FETCH FORWARD {SCAN_BATCH} FROM chronik_scan");
            loop {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    return Err(ScanError::Expired);
                }
                let rows = load_listed(conn, SqlBuilder::new(&fetch).build()).await?;
                let last = rows.len() < SCAN_BATCH;
                let events: Vec<StoredEvent> = rows.into_iter().map(|row| row.snapshot).collect();
                send_before(out, events, deadline).await?;
                if last {
                    return Ok(());
                }
            }
        })
        .await
}

/// Hands `events` to the receiver, waiting for it at most `SCAN_SEND_TIMEOUT`
/// and never past `deadline`.
async fn send_before(
    out: &Sender<Vec<StoredEvent>>,
    events: Vec<StoredEvent>,
    deadline: Option<Instant>,
) -> Result<(), ScanError> {
    let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
    let (wait, expires) = match left {
        Some(left) if left < SCAN_SEND_TIMEOUT => (left, true),
        _ => (SCAN_SEND_TIMEOUT, false),
    };
    out.send_timeout(events, wait)
        .await
        .map_err(|err| match err {
            SendTimeoutError::Closed(_) => ScanError::Closed,
            SendTimeoutError::Timeout(_) if expires => ScanError::Expired,
            SendTimeoutError::Timeout(_) => ScanError::Stalled,
        })
}

/// Appends a query for the relation of events matching `filter` with the
/// columns statistics aggregate over: `id, occurred_start, event_type,
/// casualties`. Statistics read events only through this.
pub fn push_matching(q: &mut SqlBuilder, filter: &EventFilter) {
    q.sql("SELECT e.id, e.occurred_start, e.event_type, e.casualties");
    push_source(q, filter);
    push_filter(q, filter);
}

/// Appends the WHERE conditions of `filter` to a query over `events e`.
pub(super) fn push_filter(q: &mut SqlBuilder, filter: &EventFilter) {
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
            .sql(match filter.as_of {
                None => {
                    "::timestamptz - (SELECT COALESCE(max(d.occurred_until - d.occurred_start), interval '0') \
                     FROM events d WHERE d.deleted_at IS NULL)"
                }
                Some(_) => {
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
            .sql(match filter.as_of {
                None => {
                    "::timestamptz + (SELECT COALESCE(max(d.occurred_start - d.occurred_from), interval '0') \
                     FROM events d WHERE d.deleted_at IS NULL)"
                }
                Some(_) => {
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
    if let (Some(actor), Some(_)) = (&filter.actor, filter.as_of) {
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
    if let (Some(timeline), Some(_)) = (&filter.timeline, filter.as_of) {
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

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// Metadata of a change that is not part of the event: when the information
/// became public (`known_at`, default: now) and who made the change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeMeta {
    pub known_at: Option<DateTime<Utc>>,
    pub author: Option<String>,
}

/// Failure inside a write transaction. `Unchanged` rolls back a write that
/// turned out to change nothing, so it creates no revision.
enum TxError {
    Api(ApiError),
    Unchanged(Box<Event>),
}

impl From<DieselError> for TxError {
    fn from(err: DieselError) -> Self {
        Self::Api(err.into())
    }
}

impl From<ApiError> for TxError {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

fn finish(result: Result<Event, TxError>) -> Result<Event, ApiError> {
    match result {
        Ok(event) => Ok(event),
        Err(TxError::Unchanged(event)) => Ok(*event),
        Err(TxError::Api(err)) => Err(err),
    }
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    input: EventInput,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
                check_references(conn, &input).await?;
                let id = EventId::new();
                let mut q = SqlBuilder::new(
                    "INSERT INTO events (id, title, summary, language, event_type, occurred_start, occurred_end, \
                     precision, timezone, location_name, admin1, country_code, lat, lon, casualties, status, tags, \
                     external_id, created_at, updated_at) VALUES (",
                );
                q.bind::<SqlUuid, _>(id.0).sql(", ");
                bind_fields(&mut q, &input)?;
                q.sql(", now(), now()) RETURNING created_at AS at");
                let created: Stamp = q.build().get_result(conn).await?;
                let shared = write_children(conn, id, &input, false).await?;
                // Built as an import builds it, without reading the row back:
                // that read aggregated actors, sources and timelines for an
                // event whose every value is known here (tests compare it with
                // the event as read).
                let event = shared.event(id, &input, 1, created.at, created.at);
                let all_fields = changed_fields(&serde_json::Value::Null, &event);
                append_revision(conn, &event, ChangeKind::Created, &all_fields, meta).await?;
                Ok(event)
            })
        .await;
    finish(result)
}

/// Replaces all writable fields. `expected_version` implements `If-Match`.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    id: EventId,
    input: EventInput,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    update(conn, id, expected_version, meta, move |_| Ok(input)).await
}

/// Applies an RFC 7396 merge patch to the event's writable fields.
pub async fn patch(
    conn: &mut AsyncPgConnection,
    id: EventId,
    patch: serde_json::Value,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    update(conn, id, expected_version, meta, move |current| {
        let mut merged = current.writable_json();
        json_merge_patch(&mut merged, patch);
        let input: EventInput = crate::json::from_value(merged)?;
        input.check().map_err(ApiError::Validation)?;
        Ok(input)
    })
    .await
}

/// Rewrites an event from its current state, under a row lock, so that
/// concurrent writers apply one after the other and no update is lost.
async fn update<F>(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
    build: F,
) -> Result<Event, ApiError>
where
    F: FnOnce(&Event) -> Result<EventInput, ApiError> + Send,
{
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
                let before = lock_live(conn, id, expected_version).await?;
                let input = build(&before)?;
                check_references(conn, &input).await?;
                let mut q = SqlBuilder::new(
                    "UPDATE events SET (title, summary, language, event_type, occurred_start, occurred_end, \
                     precision, timezone, location_name, admin1, country_code, lat, lon, casualties, status, tags, \
                     external_id, version, updated_at) = (",
                );
                bind_fields(&mut q, &input)?;
                q.sql(", version + 1, now()) WHERE id = ")
                    .bind::<SqlUuid, _>(id.0)
                    .sql(" RETURNING updated_at AS at");
                let updated: Stamp = q.build().get_result(conn).await?;
                for table in ["event_actors", "event_sources"] {
                    SqlBuilder::fixed(&format!("DELETE FROM {table} WHERE event_id = $1"))
                        .arg::<SqlUuid, _>(id.0)
                        .build().execute(conn)
                        .await?;
                }
                let shared = write_children(conn, id, &input, true).await?;
                // Built from the input, as a create builds it, without a read back.
                let after = shared.event(id, &input, before.version + 1, before.created_at, updated.at);
                let fields = changed_fields(&before.writable_json(), &after);
                if fields.is_empty() {
                    return Err(TxError::Unchanged(Box::new(before)));
                }
                append_revision(conn, &after, ChangeKind::Updated, &fields, meta).await?;
                Ok(after)
            })
        .await;
    finish(result)
}

/// Soft delete: the event disappears from reads; its history stays.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
            lock_live(conn, id, expected_version).await?;
            set_deleted(conn, id, true, meta).await
        })
        .await;
    finish(result)
}

/// Records a change made by another resource (timeline membership) as a new version.
pub async fn record_change(
    conn: &mut AsyncPgConnection,
    id: EventId,
    fields: &[&str],
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    SqlBuilder::fixed("UPDATE events SET version = version + 1, updated_at = now() WHERE id = $1")
        .arg::<SqlUuid, _>(id.0)
        .build()
        .execute(conn)
        .await?;
    let event = get(conn, id).await?;
    let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    append_revision(conn, &event, ChangeKind::Updated, &fields, meta).await?;
    Ok(event)
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

/// Locks the event row for the rest of the transaction; `None` if there is none.
async fn lock(conn: &mut AsyncPgConnection, id: EventId) -> Result<Option<Locked>, ApiError> {
    let locked: Vec<Locked> = SqlBuilder::fixed(
        "SELECT version, deleted_at IS NOT NULL AS deleted FROM events WHERE id = $1 FOR UPDATE",
    )
    .arg::<SqlUuid, _>(id.0)
    .build()
    .load(conn)
    .await?;
    Ok(locked.into_iter().next())
}

/// `If-Match`: the write applies only to the version the client saw.
fn check_version(expected_version: Option<i32>, locked: &Locked) -> Result<(), ApiError> {
    match expected_version {
        Some(expected) if expected != locked.version => {
            Err(precondition_failed(expected, locked.version))
        }
        _ => Ok(()),
    }
}

/// Locks a live (not deleted) event row for the rest of the transaction and checks `If-Match`.
pub async fn lock_live(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
) -> Result<Event, ApiError> {
    let locked = lock(conn, id)
        .await?
        .filter(|l| !l.deleted)
        .ok_or_else(|| not_found(id))?;
    check_version(expected_version, &locked)?;
    get(conn, id).await
}

/// Brings a deleted event back, as a new revision; its history goes on.
pub async fn restore(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
            let locked = lock(conn, id).await?.ok_or_else(|| not_found(id))?;
            if !locked.deleted {
                return Err(ApiError::Conflict(format!(
                    "event {id} is not deleted; only a deleted event can be restored"
                ))
                .into());
            }
            if super::redactions::find(conn, id).await?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "event {id} was redacted: its content is gone, so it cannot be restored"
                ))
                .into());
            }
            check_version(expected_version, &locked)?;
            set_deleted(conn, id, false, meta).await
        })
        .await;
    finish(result)
}

/// Deletes (soft) or restores the locked event, as a new version with its revision.
async fn set_deleted(
    conn: &mut AsyncPgConnection,
    id: EventId,
    deleted: bool,
    meta: &ChangeMeta,
) -> Result<Event, TxError> {
    SqlBuilder::fixed(
        "UPDATE events SET deleted_at = CASE WHEN $1 THEN now() END, version = version + 1, \
         updated_at = now() WHERE id = $2",
    )
    .arg::<diesel::sql_types::Bool, _>(deleted)
    .arg::<SqlUuid, _>(id.0)
    .build()
    .execute(conn)
    .await?;
    let event = get(conn, id).await?;
    let kind = if deleted {
        ChangeKind::Deleted
    } else {
        ChangeKind::Restored
    };
    append_revision(conn, &event, kind, &[], meta).await?;
    Ok(event)
}

/// Lets the rest of a single-event write transaction reuse each prepared
/// statement's generic plan. Postgres otherwise plans some of them anew for
/// every execution: `auto_explain` showed the `event_sources` and
/// `event_revisions` inserts custom-planned on every POST, because their
/// `unnest($n)` of a one-element array looks cheaper planned for the values
/// (1 row) than generic (10), so the generic plan never wins. These
/// statements touch rows by key, which the generic plan does just as well.
/// Measured on the 1M-event store, six interleaved 10 s `wrk` runs each:
/// 317 → 343 POSTs/s, p99 160 → 149 ms (bench/README.md). Imports keep
/// planning: forced generic plans made a 100,000-event import 6× slower,
/// since their statements carry thousands of rows each.
async fn generic_plans(conn: &mut AsyncPgConnection) -> Result<(), DieselError> {
    super::sql::set_local(conn, "plan_cache_mode = force_generic_plan").await
}

pub fn not_found(id: EventId) -> ApiError {
    ApiError::NotFound(format!("no event with id {id}"))
}

fn precondition_failed(expected: i32, current: i32) -> ApiError {
    ApiError::PreconditionFailed {
        detail: format!("If-Match names version {expected}, but the event is at version {current}"),
        current_version: current,
    }
}

/// The event type and timelines an input names must exist.
async fn check_references(
    conn: &mut AsyncPgConnection,
    input: &EventInput,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let types = super::event_types::slugs(conn).await?;
    if !types.iter().any(|t| t == input.event_type.as_str()) {
        errors.push(FieldError::new(
            "type",
            format!(
                "unknown event type `{}`; valid types: {}",
                input.event_type,
                types.join(", ")
            ),
        ));
    }
    if !input.timelines.is_empty() {
        let known = super::timelines::existing_slugs(conn, &strings(&input.timelines)).await?;
        for (i, slug) in input.timelines.iter().enumerate() {
            if !known.iter().any(|k| k == slug.as_str()) {
                errors.push(FieldError::new(
                    format!("timelines[{i}]"),
                    format!("no timeline with slug `{slug}`"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Binds the writable columns in the order the INSERT and UPDATE statements list them.
fn bind_fields(q: &mut SqlBuilder, input: &EventInput) -> Result<(), ApiError> {
    let casualties = serde_json::to_value(&input.casualties).map_err(ApiError::internal)?;
    let location = input.location.as_ref();
    q.bind::<Text, _>(input.title.to_string())
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.summary.clone())
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.language.as_ref().map(ToString::to_string))
        .sql(", ")
        .bind::<Text, _>(input.event_type.to_string())
        .sql(", ")
        .bind::<Timestamptz, _>(input.occurred_start)
        .sql(", ")
        .bind::<Nullable<Timestamptz>, _>(input.occurred_end)
        .sql(", ")
        .bind::<Text, _>(input.precision.as_str())
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.timezone.as_ref().map(ToString::to_string))
        .sql(", ")
        .bind::<Nullable<Text>, _>(location.map(|l| l.name.clone()))
        .sql(", ")
        .bind::<Nullable<Text>, _>(location.and_then(|l| l.admin1.clone()))
        .sql(", ")
        .bind::<Nullable<Text>, _>(location.map(|l| l.country_code.to_string()))
        .sql(", ")
        .bind::<Nullable<diesel::sql_types::Double>, _>(location.and_then(|l| l.lat))
        .sql(", ")
        .bind::<Nullable<diesel::sql_types::Double>, _>(location.and_then(|l| l.lon))
        .sql(", ")
        .bind::<Jsonb, _>(casualties)
        .sql(", ")
        .bind::<Text, _>(input.status.as_str())
        .sql(", ")
        .bind::<Array<Text>, _>(strings(&input.tags))
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.external_id.as_ref().map(ToString::to_string));
    Ok(())
}

/// Inserts actors, sources and timeline memberships of a new or (`replaced`)
/// rewritten event, through the same statements as imports.
async fn write_children(
    conn: &mut AsyncPgConnection,
    id: EventId,
    input: &EventInput,
    replaced: bool,
) -> Result<super::import::Shared, ApiError> {
    let replaced = if replaced { vec![id] } else { Vec::new() };
    super::import::write_children(conn, &[(id, input)], &replaced).await
}

/// What a write's INSERT or UPDATE returns: the transaction's time, as
/// stored in `created_at` or `updated_at`.
#[derive(QueryableByName)]
struct Stamp {
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
}

/// Top-level keys whose value differs between `before` (writable JSON, or
/// `Null` for a new event) and `after`.
pub(crate) fn changed_fields(before: &serde_json::Value, after: &Event) -> Vec<String> {
    let after = after.writable_json();
    let Some(after) = after.as_object() else {
        return Vec::new();
    };
    after
        .iter()
        .filter(|(key, value)| before.get(key.as_str()) != Some(value))
        .map(|(key, _)| key.clone())
        .collect()
}

/// Appends the event's current state to its append-only history, through
/// the same statement as imports.
async fn append_revision(
    conn: &mut AsyncPgConnection,
    event: &Event,
    kind: ChangeKind,
    changed_fields: &[String],
    meta: &ChangeMeta,
) -> Result<(), ApiError> {
    if let Some(known_at) = meta.known_at {
        check_known_at(conn, event.id, known_at).await?;
    }
    let revision = super::revisions::NewRevision {
        event,
        kind,
        changed_fields: changed_fields.to_vec(),
        known_at: meta.known_at,
    };
    super::revisions::append(conn, &[revision], meta.author.as_deref()).await
}

#[derive(QueryableByName)]
struct Clock {
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    previous: Option<DateTime<Utc>>,
}

/// A `known_at` the writer gives must lie between the event's previous
/// revision's `known_at` and now.
async fn check_known_at(
    conn: &mut AsyncPgConnection,
    id: EventId,
    known_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let clock: Clock = SqlBuilder::fixed(
        "SELECT clock_timestamp() AS now, (SELECT known_at FROM event_revisions WHERE event_id = $1 \
         ORDER BY version DESC LIMIT 1) AS previous",
    )
    .arg::<SqlUuid, _>(id.0)
    .build().get_result(conn)
    .await?;
    match known_at_error(known_at, clock.now, clock.previous) {
        Some(error) => Err(ApiError::Validation(vec![error])),
        None => Ok(()),
    }
}

/// What is wrong with a `known_at` given for a change, if anything: it must
/// not be after `now`, nor before the event's `previous` revision's.
pub(crate) fn known_at_error(
    known_at: DateTime<Utc>,
    now: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
) -> Option<FieldError> {
    let message = match previous {
        _ if known_at > now => format!(
            "must not be in the future (the server's time is {})",
            now.to_rfc3339()
        ),
        Some(previous) if known_at < previous => format!(
            "must not be before the event's previous revision, known at {}",
            previous.to_rfc3339()
        ),
        _ => return None,
    };
    Some(FieldError::new("known_at", message))
}

/// RFC 7396: objects merge key by key, `null` removes a key, anything else replaces.
fn json_merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(Default::default());
    }
    if let Some(map) = target.as_object_mut() {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(&key);
            } else {
                json_merge_patch(map.entry(key).or_insert(serde_json::Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::json_merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            json_merge_patch(&mut target, patch);
            assert_eq!(target, expected);
        }
    }
}

#[derive(QueryableByName)]
struct IdVersion {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Integer)]
    version: i32,
}

/// The id and version of the live event with this `external_id`.
pub async fn find_by_external_id(
    conn: &mut AsyncPgConnection,
    external_id: &crate::models::values::ExternalId,
) -> Result<Option<(EventId, i32)>, ApiError> {
    let rows: Vec<IdVersion> = SqlBuilder::fixed(
        "SELECT id, version FROM events WHERE external_id = $1 AND deleted_at IS NULL",
    )
    .arg::<Text, _>(external_id.to_string())
    .build()
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|r| (EventId(r.id), r.version)))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// Number of events ever stored, deleted ones included.
pub async fn count_all(conn: &mut AsyncPgConnection) -> Result<i64, ApiError> {
    let rows: Vec<Count> = SqlBuilder::fixed("SELECT count(*) AS count FROM events")
        .build()
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().map(|r| r.count).unwrap_or(0))
}

/// The events with these ids, deleted ones included, in no particular order.
pub async fn find_many(
    conn: &mut AsyncPgConnection,
    ids: &[EventId],
) -> Result<Vec<Event>, ApiError> {
    let mut q = SqlBuilder::new(SELECT_EVENTS);
    q.sql(" WHERE e.id = ANY(")
        .bind::<Array<SqlUuid>, _>(ids.iter().map(|id| id.0).collect::<Vec<_>>())
        .sql(")");
    let rows: Vec<EventRow> = q.build().load(conn).await?;
    rows.into_iter().map(EventRow::into_event).collect()
}
