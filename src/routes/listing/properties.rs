//! Property: any query string and `Accept` header of the event lists is a
//! request or a 4xx, never a panic.

use proptest::prelude::*;

use super::*;
use crate::filter::properties::{accept_header, query_string, request_with};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_query_of_the_event_lists_is_a_request_or_an_error(
        query in query_string(EventQuery::accepted()), accept in accept_header(),
    ) {
        // As actix's `web::Query` reads it; what it refuses is a 400 before parsing.
        if let Ok(parsed) = serde_urlencoded::from_str::<EventQuery>(&query) {
            let _ = parsed.parse(&request_with(&[("accept", &accept)]));
        }
    }
}
