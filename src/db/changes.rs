//! All SQL of the change feed: revisions in feed order, served only once
//! every transaction that could still write before them has ended (see the
//! change_feed migration for why this never skips a commit).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Json, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::events::{Relation, push_filter_on};
use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::filter::EventFilter;
use crate::models::change::{ChangeEntry, FeedKind, FeedPosition};
use crate::models::event::StoredEvent;
use crate::models::revision::ChangeKind;
use crate::models::values::EventId;

// Hand-built, all of it: every statement reads the watermark of its own
// snapshot (`pg_current_snapshot()`, which diesel's DSL does not know) and
// compares the feed position as a row, `(feed_xid, feed_seq) > (…)`, which
// the index answers as one range and the DSL cannot write.

/// The oldest transaction still running, as the statement's own snapshot
/// sees it: every revision with a smaller `feed_xid` is settled. The one
/// rule of the feed, written once (a macro, so that the statements below
/// can be `concat!`ed constants).
macro_rules! watermark {
    () => {
        "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS watermark) w"
    };
}

const WATERMARK: &str = watermark!();

/// How many revisions a filtered page looks at, at most, per entry it may
/// return: a page of a narrow filter over a busy feed ends early (with
/// `has_more`) rather than scanning the whole feed in one statement.
const SCAN_PER_ENTRY: i64 = 20;
const MAX_SCAN: i64 = 10_000;

/// A page of the feed and where to read on.
#[derive(Debug)]
pub struct FeedPage {
    pub entries: Vec<ChangeEntry>,
    pub next: FeedPosition,
    /// More settled changes follow `next` already.
    pub has_more: bool,
}

#[derive(QueryableByName)]
struct FeedRow {
    #[diesel(sql_type = BigInt)]
    watermark: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    feed_xid: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    feed_seq: Option<i64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    event_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Integer>)]
    version: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    known_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    recorded_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Bool>)]
    deleted: Option<bool>,
    #[diesel(sql_type = Nullable<Array<Nullable<Text>>>)]
    changed_fields: Option<Vec<Option<String>>>,
    #[diesel(sql_type = Nullable<Array<Nullable<Text>>>)]
    timelines: Option<Vec<Option<String>>>,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    matches: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    matched: Option<bool>,
    #[diesel(sql_type = Nullable<Json>)]
    snapshot: Option<StoredEvent>,
}

/// The columns a page reads of each revision `f` (and its previous version `p`).
const ENTRY_COLUMNS: &str = "f.feed_xid, f.feed_seq, f.event_id, f.version, f.kind, f.known_at, \
     f.recorded_at, f.deleted, f.changed_fields, \
     ARRAY(SELECT DISTINCT t FROM unnest(f.timeline_slugs || COALESCE(p.timeline_slugs, '{}')) t ORDER BY t) AS timelines, \
     f.snapshot ->> 'external_id' AS external_id";

/// Appends `EXISTS (<the revision `version_of` names matches the filter>)`.
fn push_match(q: &mut SqlBuilder, filter: &EventFilter, version_of: &str) {
    q.sql("EXISTS (SELECT 1 FROM (")
        .sql(super::events::REVISION_AS_EVENT)
        .sql(" WHERE r.event_id = f.event_id AND r.version = ")
        .sql(version_of)
        .sql(") e WHERE TRUE");
    push_filter_on(q, filter, Relation::Revisions);
    q.sql(")");
}

/// The statement a page sends: up to `scan` revisions after `after`, in
/// feed order, settled and before `bound`, each with whether it and its
/// previous version match `filter` (`None`: no filter, all match).
pub fn push_page(
    q: &mut SqlBuilder,
    filter: Option<&EventFilter>,
    after: FeedPosition,
    bound: Option<i64>,
    scan: i64,
) {
    q.sql("SELECT w.watermark, c.* FROM ")
        .sql(WATERMARK)
        .sql(" LEFT JOIN LATERAL (SELECT ")
        .sql(ENTRY_COLUMNS);
    match filter {
        None => {
            q.sql(", TRUE AS matches, FALSE AS matched, f.snapshot");
        }
        Some(filter) => {
            if *filter != EventFilter::default() {
                q.plan_each_execution();
            }
            q.sql(", m.matches, m.matched, CASE WHEN m.matches OR m.matched THEN f.snapshot END AS snapshot");
        }
    }
    q.sql(" FROM (SELECT * FROM event_revisions f WHERE (f.feed_xid, f.feed_seq) > (")
        .bind::<BigInt, _>(after.xid)
        .sql(", ")
        .bind::<BigInt, _>(after.seq)
        .sql(") AND f.feed_xid < LEAST(w.watermark, ")
        .bind::<Nullable<BigInt>, _>(bound)
        .sql(") ORDER BY f.feed_xid, f.feed_seq LIMIT ")
        .bind::<BigInt, _>(scan)
        .sql(
            ") f LEFT JOIN event_revisions p ON p.event_id = f.event_id AND p.version = f.version - 1",
        );
    if let Some(filter) = filter {
        q.sql(", LATERAL (SELECT ");
        push_match(q, filter, "f.version");
        q.sql(" AS matches, ");
        push_match(q, filter, "f.version - 1");
        q.sql(" AS matched) m");
    }
    q.sql(") c ON TRUE ORDER BY c.feed_xid, c.feed_seq");
}

/// Reads up to `limit` changes after `after` that concern `filter`'s events
/// (every change without one), settled, and (for an export that must end)
/// before transaction `bound`.
pub async fn read(
    conn: &mut AsyncPgConnection,
    filter: Option<&EventFilter>,
    after: FeedPosition,
    limit: i64,
    bound: Option<i64>,
) -> Result<FeedPage, ApiError> {
    let scan = match filter {
        None => limit + 1,
        Some(_) => (limit * SCAN_PER_ENTRY).clamp(limit + 1, MAX_SCAN.max(limit + 1)),
    };
    let mut q = SqlBuilder::new("");
    push_page(&mut q, filter, after, bound, scan);
    let rows: Vec<FeedRow> = q.build().load(conn).await?;
    let watermark = <[FeedRow]>::first(&rows).map_or(0, |r| r.watermark);
    check_not_ahead(after, FeedPosition::settled(watermark), "after")?;
    let settled = FeedPosition::settled(bound.map_or(watermark, |b| b.min(watermark)));
    let mut scanned = 0;
    let mut last_scanned = after;
    let mut entries = Vec::new();
    for row in rows {
        let (Some(xid), Some(seq)) = (row.feed_xid, row.feed_seq) else {
            continue;
        };
        scanned += 1;
        last_scanned = FeedPosition { xid, seq };
        if entries.len() as i64 == limit {
            // One more than the page holds: another page follows.
            return Ok(FeedPage {
                next: entries.last().map_or(after, |e: &ChangeEntry| e.cursor),
                entries,
                has_more: true,
            });
        }
        if let Some(entry) = row.into_entry(last_scanned)? {
            entries.push(entry);
        }
    }
    if scanned == scan {
        return Ok(FeedPage {
            entries,
            next: last_scanned,
            has_more: true,
        });
    }
    Ok(FeedPage {
        entries,
        next: after.max(settled),
        has_more: false,
    })
}

impl FeedRow {
    /// The entry this revision makes in the feed, if it concerns the filter.
    fn into_entry(self, cursor: FeedPosition) -> Result<Option<ChangeEntry>, ApiError> {
        let matches = self.matches.unwrap_or(false);
        let matched = self.matched.unwrap_or(false);
        if !matches && !matched {
            return Ok(None);
        }
        let missing = || ApiError::internal(anyhow::anyhow!("a feed row lacks a column"));
        let deleted = self.deleted.ok_or_else(missing)?;
        let kind = if deleted {
            FeedKind::Deleted
        } else if !matches {
            FeedKind::Left
        } else {
            match super::stored::parse_stored::<ChangeKind>(self.kind.ok_or_else(missing)?)? {
                ChangeKind::Created => FeedKind::Created,
                ChangeKind::Updated => FeedKind::Updated,
                ChangeKind::Deleted => FeedKind::Deleted,
                ChangeKind::Restored => FeedKind::Restored,
            }
        };
        Ok(Some(ChangeEntry {
            cursor,
            kind,
            event_id: EventId(self.event_id.ok_or_else(missing)?),
            external_id: self.external_id,
            version: self.version.ok_or_else(missing)?,
            known_at: self.known_at.ok_or_else(missing)?,
            recorded_at: self.recorded_at.ok_or_else(missing)?,
            changed_fields: texts(self.changed_fields.ok_or_else(missing)?)?,
            timelines: texts(self.timelines.ok_or_else(missing)?)?,
            event: if deleted { None } else { self.snapshot },
        }))
    }
}

fn texts(items: Vec<Option<String>>) -> Result<Vec<String>, ApiError> {
    items
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a stored array holds NULL")))
}

#[derive(QueryableByName)]
struct SinceRow {
    #[diesel(sql_type = BigInt)]
    watermark: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    feed_xid: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    feed_seq: Option<i64>,
}

/// Where a first sync from `since` begins: before the first change (in feed
/// order) recorded at or after it, and before anything still unsettled.
/// Every change recorded since then follows; a few recorded shortly before
/// it may too (feed order is not exactly the order of the clock).
const SINCE_SQL: &str = concat!(
    "SELECT w.watermark, s.feed_xid, s.feed_seq FROM ",
    watermark!(),
    " \
     LEFT JOIN LATERAL (SELECT feed_xid, feed_seq FROM event_revisions WHERE recorded_at >= $1 \
     ORDER BY feed_xid, feed_seq LIMIT 1) s ON TRUE"
);

pub async fn position_since(
    conn: &mut AsyncPgConnection,
    since: DateTime<Utc>,
) -> Result<FeedPosition, ApiError> {
    let rows: Vec<SinceRow> = SqlBuilder::fixed(SINCE_SQL)
        .arg::<Timestamptz, _>(since)
        .build()
        .load(conn)
        .await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no watermark row")))?;
    let settled = FeedPosition::settled(row.watermark);
    Ok(match (row.feed_xid, row.feed_seq) {
        (Some(xid), Some(seq)) => settled.min(FeedPosition { xid, seq: seq - 1 }),
        _ => settled,
    })
}

/// Refuses a position past everything the feed has settled: no cursor this
/// store handed out is (it may be another store's), and reading after it
/// would answer nothing, silently, until the store caught up with it.
pub fn check_not_ahead(
    after: FeedPosition,
    head: FeedPosition,
    field: &str,
) -> Result<(), ApiError> {
    if after.xid <= head.xid {
        return Ok(());
    }
    Err(ApiError::field(
        field,
        format!(
            "`{after}` is ahead of this store's change feed (now at {head}): not a cursor this store handed out"
        ),
    ))
}

/// The position after every settled change: where a client that asks only
/// for what happens from now on starts.
pub async fn head(conn: &mut AsyncPgConnection) -> Result<FeedPosition, ApiError> {
    #[derive(QueryableByName)]
    struct Head {
        #[diesel(sql_type = BigInt)]
        watermark: i64,
    }
    let rows: Vec<Head> = SqlBuilder::fixed(HEAD_SQL).build().load(conn).await?;
    let head = rows
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no watermark row")))?;
    Ok(FeedPosition::settled(head.watermark))
}

const HEAD_SQL: &str = concat!("SELECT w.watermark FROM ", watermark!());

/// Whether revisions were committed after `position` that are not settled
/// yet (they wait behind a transaction still running).
pub async fn unsettled_after(
    conn: &mut AsyncPgConnection,
    position: FeedPosition,
) -> Result<bool, ApiError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        found: bool,
    }
    let rows: Vec<Found> = SqlBuilder::fixed(UNSETTLED_SQL)
        .arg::<BigInt, _>(position.xid)
        .arg::<BigInt, _>(position.seq)
        .build()
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().is_some_and(|r| r.found))
}

const UNSETTLED_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM event_revisions WHERE (feed_xid, feed_seq) > ($1, $2)) AS found";
