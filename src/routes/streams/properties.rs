//! Property: any query string and `Last-Event-ID` of a live stream is a
//! start or a 4xx, never a panic.

use proptest::prelude::*;

use super::*;
use crate::filter::properties::{client_text, query_string, request_with};

fn stream_params() -> Vec<String> {
    [
        param_names::<FilterParams>(),
        param_names::<FeedParams>(),
        param_names::<StreamAuthParams>(),
    ]
    .concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_query_of_a_stream_is_a_start_or_an_error(
        query in query_string(stream_params()),
        last_event_id in proptest::option::of(prop_oneof![client_text(), "[0-9]{1,20}-[0-9]{1,20}"]),
    ) {
        let last_event_id = last_event_id.and_then(|id| header::HeaderValue::from_str(&id).ok());
        if let Ok(parsed) = serde_urlencoded::from_str::<StreamQuery>(&query) {
            let _ = parsed.parse(&request_with(&[("last-event-id", &last_event_id)]));
        }
    }
}
