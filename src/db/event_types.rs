//! All SQL for the event-type vocabulary.

use super::sql::SqlBuilder;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::ApiError;
use crate::models::event_type::{EventType, NewEventType};

#[derive(QueryableByName)]
struct EventTypeRow {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = Nullable<Text>)]
    description: Option<String>,
    #[diesel(sql_type = Timestamptz)]
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

pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<EventType>, ApiError> {
    let rows: Vec<EventTypeRow> = SqlBuilder::fixed(
        "SELECT slug, label, description, created_at FROM event_types ORDER BY slug",
    )
    .build()
    .load(conn)
    .await?;
    rows.into_iter().map(EventTypeRow::into_model).collect()
}

#[derive(QueryableByName)]
struct Slug {
    #[diesel(sql_type = Text)]
    slug: String,
}

/// All known type slugs, sorted.
pub async fn slugs(conn: &mut AsyncPgConnection) -> Result<Vec<String>, ApiError> {
    let rows: Vec<Slug> = SqlBuilder::fixed("SELECT slug FROM event_types ORDER BY slug")
        .build()
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.slug).collect())
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    new: NewEventType,
) -> Result<EventType, ApiError> {
    if new.label.trim().is_empty() || new.label.chars().count() > 200 {
        return Err(ApiError::invalid("label", "must be 1 to 200 characters"));
    }
    let rows: Vec<EventTypeRow> = SqlBuilder::fixed(
        "INSERT INTO event_types (slug, label, description) VALUES ($1, $2, $3) \
         RETURNING slug, label, description, created_at",
    )
    .arg::<Text, _>(new.slug.to_string())
    .arg::<Text, _>(new.label)
    .arg::<Nullable<Text>, _>(new.description)
    .build()
    .load(conn)
    .await?;
    rows.into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("INSERT returned no row")))?
        .into_model()
}
