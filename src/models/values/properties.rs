//! Properties of the value types' parsers, over generated input: any text a
//! client sends is a value or an error, never a panic, and a value written
//! out reads back as itself.

use proptest::prelude::*;

use super::*;
use crate::filter::properties::client_text;

fn longitude() -> impl Strategy<Value = f64> {
    -180.0..=180.0f64
}

fn latitude() -> impl Strategy<Value = f64> {
    -90.0..=90.0f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_text_is_a_bbox_or_an_error(raw in prop_oneof![
        client_text(),
        "[-+0-9.eE ,infaNIF]{0,40}",
    ]) {
        if let Ok(bbox) = raw.parse::<BBox>() {
            // What parses is a box on the globe.
            for lon in [bbox.min_lon, bbox.max_lon] {
                prop_assert!((-180.0..=180.0).contains(&lon), "{raw}");
            }
            prop_assert!(-90.0 <= bbox.min_lat && bbox.min_lat <= bbox.max_lat && bbox.max_lat <= 90.0, "{raw}");
        }
    }

    #[test]
    fn a_bbox_on_the_globe_reads_back_as_written(
        min_lon in longitude(), min_lat in latitude(), max_lon in longitude(), max_lat in latitude(),
        space in " {0,2}",
    ) {
        let written = [min_lon, min_lat, max_lon, max_lat].map(|n| format!("{space}{n}{space}")).join(",");
        let parsed = written.parse::<BBox>();
        if min_lat <= max_lat {
            prop_assert_eq!(parsed, Ok(BBox { min_lon, min_lat, max_lon, max_lat }));
        } else {
            prop_assert!(parsed.is_err(), "{written}");
        }
    }

    #[test]
    fn an_event_id_reads_back_as_written(id in any::<u128>(), raw in client_text()) {
        let id = EventId(Uuid::from_u128(id));
        prop_assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
        let _ = raw.parse::<EventId>();
    }

    #[test]
    fn any_text_is_a_checked_value_or_an_error(raw in client_text()) {
        // Each value that parses prints as the text it keeps.
        fn check<T: std::str::FromStr<Err = String> + fmt::Display>(raw: &str) -> Result<(), TestCaseError> {
            if let Ok(value) = raw.parse::<T>() {
                let again = value.to_string().parse::<T>().map(|v| v.to_string());
                prop_assert_eq!(again, Ok(value.to_string()));
            }
            Ok(())
        }
        check::<EventTypeSlug>(&raw)?;
        check::<TimelineSlug>(&raw)?;
        check::<CountryCode>(&raw)?;
        check::<TimeZoneName>(&raw)?;
        check::<LanguageTag>(&raw)?;
        check::<Title>(&raw)?;
        check::<ExternalId>(&raw)?;
        check::<Tag>(&raw)?;
        check::<ActorName>(&raw)?;
        check::<SourceUrl>(&raw)?;
        check::<SearchText>(&raw)?;
    }

    #[test]
    fn slugs_of_the_documented_pattern_are_accepted(
        event_type in "[a-z][a-z0-9_]{0,63}", timeline in "[a-z0-9][a-z0-9-]{0,99}",
    ) {
        prop_assert_eq!(event_type.parse::<EventTypeSlug>().map(|s| s.to_string()), Ok(event_type.clone()));
        prop_assert_eq!(timeline.parse::<TimelineSlug>().map(|s| s.to_string()), Ok(timeline.clone()));
    }
}
