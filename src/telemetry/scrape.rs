//! What `GET /metrics` answers: the recorder's metrics, with the pools'
//! gauges sampled at that moment (a pool says how it is when asked; it
//! reports no changes).

use metrics_exporter_prometheus::PrometheusHandle;

use super::metrics::{self, PoolSample};
use crate::db::DbPool;

/// The Prometheus text format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The recorder and the pools of one server, by the names the gauges give them.
pub struct Scrape {
    handle: PrometheusHandle,
    pools: Vec<(&'static str, Vec<DbPool>)>,
}

impl Scrape {
    /// `pools`: each named group of pools is reported as one pool (the
    /// request pools of all HTTP workers as `requests`).
    pub fn new(handle: PrometheusHandle, pools: Vec<(&'static str, Vec<DbPool>)>) -> Self {
        Self { handle, pools }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        for (name, pools) in &self.pools {
            metrics::pool(name, sample(pools));
        }
        self.handle.render()
    }
}

/// The pools of a group, added up.
fn sample(pools: &[DbPool]) -> PoolSample {
    pools
        .iter()
        .map(DbPool::status)
        .fold(PoolSample::default(), |sum, status| PoolSample {
            max: sum.max + status.max_size,
            open: sum.open + status.size,
            in_use: sum.in_use + status.size.saturating_sub(status.available),
            waiting: sum.waiting + status.waiting,
        })
}
