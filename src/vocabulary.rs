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

/// How far (in edits) a known value may be from a typo to be suggested.
const MAX_SUGGESTION_DISTANCE: usize = 3;

#[derive(Debug, Default)]
pub struct Vocabulary {
    event_types: RwLock<BTreeSet<String>>,
}

impl Vocabulary {
    /// Refuses `filter` if it names an event type or timeline that does not exist.
    pub async fn check(&self, pool: &DbPool, filter: &EventFilter) -> Result<(), ApiError> {
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

/// "unknown event type `battel`; did you mean `battle`? Known types: …".
fn unknown_type(unknown: &str, known: &BTreeSet<String>) -> String {
    let list = known
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    match closest(unknown, known) {
        Some(close) => {
            format!("unknown event type `{unknown}`; did you mean `{close}`? Known types: {list}")
        }
        None => format!("unknown event type `{unknown}`; known types: {list}"),
    }
}

/// The known value fewest edits away from `typo`, if it is close enough.
pub fn closest<'a>(typo: &str, known: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
    let typo = typo.to_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(&typo, &k.to_lowercase()), k))
        .filter(|(distance, k)| *distance <= MAX_SUGGESTION_DISTANCE.min(k.len() / 2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        ["armed_clash", "protest", "riot", "looting"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_typo_is_answered_with_the_closest_known_value() {
        assert_eq!(closest("protets", &known()), Some("protest"));
        assert_eq!(closest("armed_clashes", &known()), Some("armed_clash"));
        assert_eq!(closest("battle", &known()), None);
    }

    #[test]
    fn the_message_lists_the_known_types() {
        let message = unknown_type("protets", &known());
        assert!(message.contains("did you mean `protest`?"), "{message}");
        assert!(
            message.ends_with("armed_clash, looting, protest, riot"),
            "{message}"
        );
    }
}
