//! All SQL for the event-type vocabulary.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::ApiError;
use crate::models::event_type::{EventType, NewEventType};
use crate::schema::event_types;

#[derive(Queryable, Selectable)]
#[diesel(table_name = event_types, check_for_backend(diesel::pg::Pg))]
struct EventTypeRow {
    slug: String,
    label: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
}

impl EventTypeRow {
    fn into_model(self) -> Result<EventType, ApiError> {
        Ok(EventType {
            slug: self
                .slug
                .parse()
                .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?,
            label: self.label,
            description: self.description,
            created_at: self.created_at,
        })
    }
}

/// A new row; `created_at` is the column's default.
#[derive(Insertable)]
#[diesel(table_name = event_types, treat_none_as_default_value = false)]
struct NewEventTypeRow<'a> {
    slug: &'a str,
    label: &'a str,
    description: Option<&'a str>,
}

pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<EventType>, ApiError> {
    let rows: Vec<EventTypeRow> = event_types::table
        .select(EventTypeRow::as_select())
        .order(event_types::slug)
        .load(conn)
        .await?;
    rows.into_iter().map(EventTypeRow::into_model).collect()
}

/// All known type slugs, sorted.
pub async fn slugs(conn: &mut AsyncPgConnection) -> Result<Vec<String>, ApiError> {
    Ok(event_types::table
        .select(event_types::slug)
        .order(event_types::slug)
        .load(conn)
        .await?)
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    new: NewEventType,
) -> Result<EventType, ApiError> {
    if new.label.trim().is_empty() || new.label.chars().count() > 200 {
        return Err(ApiError::invalid("label", "must be 1 to 200 characters"));
    }
    let slug = new.slug.to_string();
    let row = NewEventTypeRow {
        slug: &slug,
        label: &new.label,
        description: new.description.as_deref(),
    };
    diesel::insert_into(event_types::table)
        .values(&row)
        .returning(EventTypeRow::as_returning())
        .get_result::<EventTypeRow>(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("INSERT returned no row")))?
        .into_model()
}
