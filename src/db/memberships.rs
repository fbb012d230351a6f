//! Which events a timeline holds. A change of membership is a change of
//! the event (its `timelines`), so it makes a new version with its revision:
//! this is where timeline writes meet event writes.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::events::{lock_live, record_change};
use super::timelines::{id_of, not_found};
use crate::error::ApiError;
use crate::models::revision::ChangeMeta;
use crate::models::values::{EventId, TimelineSlug};
use crate::schema::{event_timelines, timelines};

/// Deletes a timeline. Its events stay; each loses the timeline from its
/// `timelines` field, which is recorded as a new version of the event.
pub async fn delete_timeline(
    conn: &mut AsyncPgConnection,
    slug: &TimelineSlug,
    meta: &ChangeMeta,
) -> Result<(), ApiError> {
    let slug = slug.clone();
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let timeline = timelines::table
            .filter(timelines::slug.eq(slug.as_str()))
            .select(timelines::id);
        let members: Vec<Uuid> = diesel::delete(
            event_timelines::table.filter(event_timelines::timeline_id.eq_any(timeline)),
        )
        .returning(event_timelines::event_id)
        .load(conn)
        .await?;
        let deleted = diesel::delete(timelines::table.filter(timelines::slug.eq(slug.as_str())))
            .execute(conn)
            .await?;
        if deleted == 0 {
            return Err(not_found(&slug));
        }
        for member in members {
            record_change(conn, EventId(member), &["timelines"], meta).await?;
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
        lock_live(conn, event, None).await?;
        let changed = if member {
            diesel::insert_into(event_timelines::table)
                .values((
                    event_timelines::timeline_id.eq(timeline_id),
                    event_timelines::event_id.eq(event.0),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?
        } else {
            diesel::delete(
                event_timelines::table
                    .filter(event_timelines::timeline_id.eq(timeline_id))
                    .filter(event_timelines::event_id.eq(event.0)),
            )
            .execute(conn)
            .await?
        } > 0;
        if changed {
            record_change(conn, event, &["timelines"], meta).await?;
        }
        Ok(changed)
    })
    .await
}
