//! Answers to a value that names nothing: the known values, and the one a
//! typo most likely meant.

use std::collections::BTreeSet;

/// How far (in edits) a known value may be from a typo to be suggested.
const MAX_SUGGESTION_DISTANCE: usize = 3;

/// "unknown event type `battel`; did you mean `battle`? Known types: …".
pub fn unknown_type(unknown: &str, known: &BTreeSet<String>) -> String {
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
