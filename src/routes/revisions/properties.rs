//! Properties of the revision list's parameters: a cursor reads back as the
//! version it was written from, and any text is a page or a 400.

use proptest::prelude::*;

use super::*;
use crate::filter::properties::client_text;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_revision_cursor_reads_back_as_its_version(version in any::<i32>()) {
        prop_assert_eq!(decode_cursor(&encode_cursor(version)), Ok(version));
    }

    #[test]
    fn any_limit_and_cursor_are_a_page_or_an_error(
        limit in proptest::option::of(client_text()), cursor in proptest::option::of(client_text()),
    ) {
        let _ = RevisionParams { limit, cursor }.parse();
    }
}
