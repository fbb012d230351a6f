//! Properties of the change feed's position parser: any text is a position
//! or an error, never a panic, and a position reads back as written.

use proptest::prelude::*;

use super::*;
use crate::filter::properties::client_text;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_feed_position_reads_back_as_written(xid in 0..=i64::MAX, seq in 0..=i64::MAX) {
        let position = FeedPosition { xid, seq };
        prop_assert_eq!(position.to_string().parse::<FeedPosition>(), Ok(position));
    }

    #[test]
    fn any_text_is_a_feed_position_or_an_error(raw in prop_oneof![
        client_text(),
        "[-+0-9 ]{0,45}",
    ]) {
        if let Ok(position) = raw.parse::<FeedPosition>() {
            // Only digits: what parses is never negative, and is written as it came (but for leading zeros).
            prop_assert!(position.xid >= 0 && position.seq >= 0, "{raw}");
        }
    }
}
