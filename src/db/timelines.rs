//! All SQL for timelines and their event memberships.

use super::sql::SqlBuilder;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::ApiError;
use crate::models::revision::ChangeMeta;
use crate::models::timeline::{NewTimeline, Timeline, TimelinePatch};
use crate::models::values::{EventId, TimelineSlug};

/// Timelines with their statistics over live (not deleted) events.
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

pub async fn create(conn: &mut AsyncPgConnection, new: NewTimeline) -> Result<Timeline, ApiError> {
    SqlBuilder::fixed(
        "INSERT INTO timelines (id, slug, title, description) VALUES ($1, $2, $3, $4)",
    )
    .arg::<SqlUuid, _>(Uuid::now_v7())
    .arg::<Text, _>(new.slug.to_string())
    .arg::<Text, _>(new.title.to_string())
    .arg::<Nullable<Text>, _>(new.description)
    .build()
    .execute(conn)
    .await?;
    get(conn, &new.slug).await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    slug: &TimelineSlug,
    patch: TimelinePatch,
) -> Result<Timeline, ApiError> {
    let (set_description, description) = match patch.description {
        Some(description) => (true, description),
        None => (false, None),
    };
    let updated = SqlBuilder::fixed(
        "UPDATE timelines SET title = COALESCE($1, title), \
             description = CASE WHEN $2 THEN $3 ELSE description END, updated_at = now() \
         WHERE slug = $4",
    )
    .arg::<Nullable<Text>, _>(patch.title.map(String::from))
    .arg::<diesel::sql_types::Bool, _>(set_description)
    .arg::<Nullable<Text>, _>(description)
    .arg::<Text, _>(slug.to_string())
    .build()
    .execute(conn)
    .await?;
    if updated == 0 {
        return Err(not_found(slug));
    }
    get(conn, slug).await
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Deletes a timeline. Its events stay; each loses the timeline from its
/// `timelines` field, which is recorded as a new version of the event.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    slug: &TimelineSlug,
    meta: &ChangeMeta,
) -> Result<(), ApiError> {
    let slug = slug.clone();
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let members: Vec<IdRow> = SqlBuilder::fixed(
            "DELETE FROM event_timelines et USING timelines t \
                 WHERE et.timeline_id = t.id AND t.slug = $1 RETURNING et.event_id AS id",
        )
        .arg::<Text, _>(slug.to_string())
        .build()
        .load(conn)
        .await?;
        let deleted = SqlBuilder::fixed("DELETE FROM timelines WHERE slug = $1")
            .arg::<Text, _>(slug.to_string())
            .build()
            .execute(conn)
            .await?;
        if deleted == 0 {
            return Err(not_found(&slug));
        }
        for member in members {
            super::events::record_change(conn, EventId(member.id), &["timelines"], meta).await?;
        }
        Ok(())
    })
    .await
}

/// Adds (`member = true`) or removes an event from a timeline. Returns
/// whether anything changed; a change becomes a new version of the event.
pub async fn set_membership(
    conn: &mut AsyncPgConnection,
    slug: &TimelineSlug,
    event: EventId,
    member: bool,
    meta: &ChangeMeta,
) -> Result<bool, ApiError> {
    let slug = slug.clone();
    conn.transaction::<_, ApiError, _>(async move |conn| {
            let timeline_id = id_of(conn, &slug).await?;
            super::events::lock_live(conn, event, None).await?;
            let sql = if member {
                "INSERT INTO event_timelines (timeline_id, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM event_timelines WHERE timeline_id = $1 AND event_id = $2"
            };
            let changed = SqlBuilder::fixed(sql)
                .arg::<SqlUuid, _>(timeline_id)
                .arg::<SqlUuid, _>(event.0)
                .build().execute(conn)
                .await?
                > 0;
            if changed {
                super::events::record_change(conn, event, &["timelines"], meta).await?;
            }
            Ok(changed)
        })
    .await
}

async fn id_of(conn: &mut AsyncPgConnection, slug: &TimelineSlug) -> Result<Uuid, ApiError> {
    let rows: Vec<IdRow> = SqlBuilder::fixed("SELECT id FROM timelines WHERE slug = $1 FOR SHARE")
        .arg::<Text, _>(slug.to_string())
        .build()
        .load(conn)
        .await?;
    rows.into_iter()
        .next()
        .map(|r| r.id)
        .ok_or_else(|| not_found(slug))
}

#[derive(QueryableByName)]
struct SlugRow {
    #[diesel(sql_type = Text)]
    slug: String,
}

/// Which of `slugs` name existing timelines. Locks them against deletion
/// until the caller's transaction ends.
pub async fn existing_slugs(
    conn: &mut AsyncPgConnection,
    slugs: &[String],
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<SlugRow> =
        SqlBuilder::fixed("SELECT slug FROM timelines WHERE slug = ANY($1) FOR SHARE")
            .arg::<Array<Text>, _>(slugs.to_vec())
            .build()
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.slug).collect())
}
