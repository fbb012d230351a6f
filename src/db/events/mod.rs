//! All SQL for events: statements built for a request's filter (`query`),
//! reads of the stored snapshots (`reads`), rows read back inside a write
//! (`rows`), and writes that append a revision in the same transaction
//! (`writes`, with the rules for `known_at`).

mod known_at;
mod query;
mod reads;
mod rows;
mod writes;

pub use known_at::known_at_error;
pub(crate) use query::{
    REVISION_AS_EVENT, Relation, push_filter, push_filter_on, push_matching, push_source,
};
/// What `chronik bench-sql` captures: the statements reads send.
#[cfg(feature = "bench")]
pub use query::{push_find, push_list, push_select};
pub use reads::{
    Page, SCAN_BATCH, SCAN_SEND_TIMEOUT, ScanError, count_all, find, find_by_external_id, list,
    scan,
};
pub use rows::find_many;
pub use writes::{
    changed_fields, create, delete, lock_live, not_found, patch, record_change, replace, restore,
};
