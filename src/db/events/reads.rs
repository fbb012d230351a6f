//! Reads of events as clients see them: the stored snapshot of the current
//! (or, with `as_of`, the then current) version.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Float4, Integer, Json, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{QueryableByName, result::Error as DieselError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::time::Instant;
use uuid::Uuid;

use super::query::{push_find, push_list, push_select};
use crate::db::sql::SqlBuilder;
use crate::error::ApiError;
use crate::filter::{Cursor, EventFilter, PageRequest, SortOrder};
use crate::models::event::StoredEvent;
use crate::models::values::EventId;

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

/// One page of events, and where the next page starts (`None` on the last).
#[derive(Debug)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    pub next: Option<Cursor>,
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
    query: crate::db::sql::Query,
) -> Result<Vec<ListedRow>, ApiError> {
    Ok(query.load(conn).await?)
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
