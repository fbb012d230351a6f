//! Filter values from a closed vocabulary must name something: `type=battle`
//! or `timeline=nope` is a `400` that names the field (and the closest
//! known value), never a plausible-looking empty list.
//!
//! Event types are kept in memory: the API can add types but not remove
//! them, so a type once seen stays valid, and a value not seen yet is looked
//! up (and the list refreshed) before it is refused. Timelines can be
//! deleted, so a timeline filter is looked up on every request.

use std::collections::BTreeSet;
use std::sync::RwLock;

use crate::db::{self, DbPool};
use crate::error::{ApiError, FieldError};
use crate::filter::EventFilter;
use crate::suggest::unknown_type;

/// Which timelines count as known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Those that exist.
    Now,
    /// Those that exist or that any revision named.
    History,
}

#[derive(Debug, Default)]
pub struct Vocabulary {
    event_types: RwLock<BTreeSet<String>>,
}

impl Vocabulary {
    /// Refuses `filter` if it names an event type or timeline that does not exist.
    pub async fn check(&self, pool: &DbPool, filter: &EventFilter) -> Result<(), ApiError> {
        self.check_within(pool, filter, Reach::Now).await
    }

    /// The same for the change feed, where a timeline that was deleted
    /// (and that the history names) is still a filter: its readers learn
    /// from it that its events left it.
    pub async fn check_history(&self, pool: &DbPool, filter: &EventFilter) -> Result<(), ApiError> {
        self.check_within(pool, filter, Reach::History).await
    }

    async fn check_within(
        &self,
        pool: &DbPool,
        filter: &EventFilter,
        reach: Reach,
    ) -> Result<(), ApiError> {
        let unseen: Vec<&str> = filter
            .types
            .iter()
            .map(|t| t.as_str())
            .filter(|t| !self.knows(t))
            .collect();
        if unseen.is_empty() && filter.timeline.is_none() {
            return Ok(());
        }
        let mut conn = pool.get().await?;
        let mut errors = Vec::new();
        if !unseen.is_empty() {
            let known: BTreeSet<String> = db::event_types::slugs(&mut conn)
                .await?
                .into_iter()
                .collect();
            for unknown in unseen.into_iter().filter(|t| !known.contains(*t)) {
                errors.push(FieldError::new("type", unknown_type(unknown, &known)));
            }
            if let Ok(mut cached) = self.event_types.write() {
                *cached = known;
            }
        }
        if let Some(slug) = &filter.timeline
            && !db::vocabulary::timeline_exists(&mut conn, slug.as_str()).await?
            && (reach == Reach::Now
                || !db::vocabulary::timeline_in_history(&mut conn, slug.as_str()).await?)
        {
            errors.push(FieldError::new(
                "timeline",
                format!("no timeline has the slug `{slug}` (GET /v1/timelines lists them)"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(errors))
        }
    }

    fn knows(&self, event_type: &str) -> bool {
        self.event_types
            .read()
            .is_ok_and(|known| known.contains(event_type))
    }
}

impl Vocabulary {
    /// For a body refused for other errors: the event type and timelines it
    /// names that do not exist, so that one answer lists every error (the
    /// store checks them again when a valid body is written). Fields already
    /// `reported` are left alone.
    pub async fn unknown_references(
        &self,
        pool: &DbPool,
        body: &serde_json::Value,
        reported: &[FieldError],
    ) -> Result<Vec<FieldError>, ApiError> {
        let unreported = |field: &str| !reported.iter().any(|e| e.field == field);
        let event_type = body
            .get("type")
            .and_then(serde_json::Value::as_str)
            .filter(|t| unreported("type") && !self.knows(t));
        let timelines: Vec<(usize, &str)> = body
            .get("timelines")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, slug)| Some((i, slug.as_str()?)))
            .filter(|(i, _)| unreported(&format!("timelines[{i}]")))
            .collect();
        if event_type.is_none() && timelines.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = pool.get().await?;
        let mut errors = Vec::new();
        if let Some(unknown) = event_type {
            let known: BTreeSet<String> = db::event_types::slugs(&mut conn)
                .await?
                .into_iter()
                .collect();
            if !known.contains(unknown) {
                errors.push(FieldError::new("type", unknown_type(unknown, &known)));
            }
        }
        let slugs: Vec<String> = timelines.iter().map(|(_, s)| (*s).to_owned()).collect();
        let existing = db::timelines::existing_slugs(&mut conn, &slugs).await?;
        for (i, slug) in timelines {
            if !existing.iter().any(|e| e == slug) {
                errors.push(FieldError::new(
                    format!("timelines[{i}]"),
                    format!("no timeline with slug `{slug}`"),
                ));
            }
        }
        Ok(errors)
    }
}
