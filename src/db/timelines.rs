//! All SQL for timelines and their event memberships.

use super::sql::SqlBuilder;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::ApiError;
use crate::models::timeline::{NewTimeline, Timeline, TimelinePatch};
use crate::models::values::TimelineSlug;
use crate::schema::timelines;

/// Timelines with their statistics over live (not deleted) events. Hand-built:
/// a LATERAL aggregate over a join, which diesel's DSL cannot express.
const SELECT_TIMELINES: &str = "\
SELECT t.slug, t.title, t.description, t.created_at, t.updated_at, \
       s.event_count, s.first_event_at, s.last_event_at \
FROM timelines t \
CROSS JOIN LATERAL ( \
    SELECT count(e.id) AS event_count, min(e.occurred_start) AS first_event_at, max(COALESCE(e.occurred_end, e.occurred_start)) AS last_event_at \
    FROM event_timelines et JOIN events e ON e.id = et.event_id AND e.deleted_at IS NULL \
    WHERE et.timeline_id = t.id) s";

#[derive(QueryableByName)]
struct TimelineRow {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    description: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    event_count: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    first_event_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_event_at: Option<DateTime<Utc>>,
}

impl TimelineRow {
    fn into_model(self) -> Result<Timeline, ApiError> {
        Ok(Timeline {
            slug: self
                .slug
                .parse()
                .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?,
            title: self.title,
            description: self.description,
            event_count: self.event_count,
            first_event_at: self.first_event_at,
            last_event_at: self.last_event_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub fn not_found(slug: &TimelineSlug) -> ApiError {
    ApiError::NotFound(format!("no timeline with slug `{slug}`"))
}

pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<Timeline>, ApiError> {
    let rows: Vec<TimelineRow> = SqlBuilder::fixed(&format!("{SELECT_TIMELINES} ORDER BY t.slug"))
        .build()
        .load(conn)
        .await?;
    rows.into_iter().map(TimelineRow::into_model).collect()
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    slug: &TimelineSlug,
) -> Result<Option<Timeline>, ApiError> {
    let rows: Vec<TimelineRow> =
        SqlBuilder::fixed(&format!("{SELECT_TIMELINES} WHERE t.slug = $1"))
            .arg::<Text, _>(slug.to_string())
            .build()
            .load(conn)
            .await?;
    rows.into_iter()
        .next()
        .map(TimelineRow::into_model)
        .transpose()
}

async fn get(conn: &mut AsyncPgConnection, slug: &TimelineSlug) -> Result<Timeline, ApiError> {
    find(conn, slug).await?.ok_or_else(|| not_found(slug))
}

/// A new row; the timestamps are the columns' defaults.
#[derive(Insertable)]
#[diesel(table_name = timelines, treat_none_as_default_value = false)]
struct NewTimelineRow<'a> {
    id: Uuid,
    slug: &'a str,
    title: &'a str,
    description: Option<&'a str>,
}

/// What a patch changes: `None` keeps a column, `Some(None)` clears the
/// description.
#[derive(AsChangeset)]
#[diesel(table_name = timelines)]
struct TimelineChanges {
    title: Option<String>,
    description: Option<Option<String>>,
}

pub async fn create(conn: &mut AsyncPgConnection, new: NewTimeline) -> Result<Timeline, ApiError> {
    let slug = new.slug.to_string();
    let title = new.title.to_string();
    diesel::insert_into(timelines::table)
        .values(&NewTimelineRow {
            id: Uuid::now_v7(),
            slug: &slug,
            title: &title,
            description: new.description.as_deref(),
        })
        .execute(conn)
        .await?;
    get(conn, &new.slug).await
}

/// Applies a patch (a rare write: diesel does not keep UPDATE statements prepared).
pub async fn update(
    conn: &mut AsyncPgConnection,
    slug: &TimelineSlug,
    patch: TimelinePatch,
) -> Result<Timeline, ApiError> {
    let changes = TimelineChanges {
        title: patch.title.map(String::from),
        description: patch.description,
    };
    let updated = diesel::update(timelines::table.filter(timelines::slug.eq(slug.as_str())))
        .set((changes, timelines::updated_at.eq(now)))
        .execute(conn)
        .await?;
    if updated == 0 {
        return Err(not_found(slug));
    }
    get(conn, slug).await
}

pub(super) async fn id_of(
    conn: &mut AsyncPgConnection,
    slug: &TimelineSlug,
) -> Result<Uuid, ApiError> {
    timelines::table
        .filter(timelines::slug.eq(slug.as_str()))
        .select(timelines::id)
        .for_share()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| not_found(slug))
}

/// Which of `slugs` name existing timelines. Locks them against deletion
/// until the caller's transaction ends.
pub async fn existing_slugs(
    conn: &mut AsyncPgConnection,
    slugs: &[String],
) -> Result<Vec<String>, ApiError> {
    // `= ANY($1)` with one array bind: kept prepared whatever the number of slugs.
    Ok(timelines::table
        .filter(timelines::slug.eq_any(slugs))
        .select(timelines::slug)
        .for_share()
        .load(conn)
        .await?)
}
