//! Property: any query string and `Accept` header of the change feed is a
//! request or a 4xx, never a panic.

use proptest::prelude::*;

use super::*;
use crate::filter::properties::{accept_header, query_string, request_with};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_query_of_the_change_feed_is_a_request_or_an_error(
        query in query_string(ChangesQuery::accepted()), accept in accept_header(),
    ) {
        if let Ok(parsed) = serde_urlencoded::from_str::<ChangesQuery>(&query) {
            let _ = parsed.parse(&request_with(&[("accept", &accept)]));
        }
    }
}
