//! All SQL for actors.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::models::actor::Actor;

#[derive(QueryableByName)]
pub struct ActorRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub name_key: String,
    #[diesel(sql_type = BigInt)]
    pub event_count: i64,
}

/// Actors ordered by lower-cased name, optionally those whose name starts
/// with `prefix` (case-insensitive), after the `after` key. Returns one row
/// more than `limit` when another page follows. Hand-built: a correlated
/// count per actor (diesel's DSL has no correlated subqueries) under
/// optional filters, each combination a statement kept prepared.
pub async fn list(
    conn: &mut AsyncPgConnection,
    prefix: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<Actor>, Option<String>), ApiError> {
    let mut q = SqlBuilder::new(
        "SELECT a.name, a.name_key, \
             (SELECT count(*) FROM event_actors ea JOIN events e ON e.id = ea.event_id AND e.deleted_at IS NULL \
              WHERE ea.actor_id = a.id) AS event_count \
         FROM actors a WHERE true",
    );
    if let Some(prefix) = prefix {
        // LIKE metacharacters in the prefix are matched literally.
        let escaped = prefix
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q.sql(" AND a.name_key LIKE ")
            .bind::<Text, _>(format!("{escaped}%"));
    }
    if let Some(after) = after {
        q.sql(" AND a.name_key > ")
            .bind::<Text, _>(after.to_owned());
    }
    q.sql(" ORDER BY a.name_key LIMIT ")
        .bind::<BigInt, _>(limit + 1);
    let mut rows: Vec<ActorRow> = q.build().load(conn).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.name_key.clone())
    } else {
        None
    };
    let actors = rows
        .into_iter()
        .map(|r| Actor {
            name: r.name,
            event_count: r.event_count,
        })
        .collect();
    Ok((actors, next))
}
