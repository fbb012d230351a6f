//! What every handler may reach: the worker's pool, the shared slots for
//! exports and imports, and settings read once at start.

use std::sync::Arc;

use crate::bulk::Slots;
use crate::db::DbPool;
use crate::db::readiness::Readiness;
use crate::db::replicas::ReadPools;
use crate::live::Hub;
use crate::vocabulary::Vocabulary;

#[derive(Clone)]
pub struct AppState {
    /// This worker's own connections (see [`worker_pools`]).
    pub pool: DbPool,
    /// Where reads that a standby may serve get their connection: this
    /// worker's pools on the standbys of `DATABASE_READ_URL`, then `pool`.
    pub reads: ReadPools,
    /// Connections for streaming exports, shared by all workers.
    pub exports: Slots,
    /// Connections for `POST /v1/import`, shared by all workers.
    pub imports: Slots,
    /// Largest `POST /v1/import` body, in bytes (`CHRONIK_MAX_IMPORT_BYTES`).
    pub max_import_bytes: u64,
    /// Largest record of an import (`CHRONIK_MAX_IMPORT_RECORD_BYTES`).
    pub import_limits: crate::import::Limits,
    /// Writes to existing events need `If-Match` (`CHRONIK_REQUIRE_IF_MATCH`).
    pub require_if_match: bool,
    /// The last answer of `/readyz`, shared by all workers.
    pub readiness: Arc<Readiness>,
    /// Known event types, to refuse filters that name none (shared by all workers).
    pub vocabulary: Arc<Vocabulary>,
    /// Live streams: the change listener's wake-ups and the stream groups (shared by all workers).
    pub live: Arc<Hub>,
}
