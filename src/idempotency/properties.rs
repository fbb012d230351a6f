//! Properties of the `Idempotency-Key` parser: any header value is a key or
//! a 400, never a panic; a key of visible ASCII reads back as sent, quoted
//! or not.

use proptest::prelude::*;

use super::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_header_value_is_a_key_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        // What a client can put on the wire: actix makes a HeaderValue of every field value it reads.
        let Ok(value) = HeaderValue::from_bytes(&bytes) else {
            return Ok(());
        };
        if let Ok(key) = parse_key(&value) {
            prop_assert!((1..=255).contains(&key.len()), "{key:?}");
            prop_assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{key:?}");
        }
    }

    #[test]
    fn a_key_of_visible_ascii_reads_back_quoted_or_not(key in "[!#-~]{1,255}") {
        let parse = |text: &str| parse_key(&HeaderValue::from_str(text).unwrap()).ok();
        prop_assert_eq!(parse(&key), Some(key.clone()));
        prop_assert_eq!(parse(&format!("\"{key}\"")), Some(key.clone()));
        prop_assert_eq!(parse(&format!(" {key} ")), Some(key.clone()));
    }

    #[test]
    fn a_key_too_long_is_refused(key in "[!#-~]{256,300}") {
        prop_assert!(parse_key(&HeaderValue::from_str(&key).unwrap()).is_err());
    }
}
