//! Settings of live streams (`CHRONIK_STREAM_*`).

use clap::Args;
use std::time::Duration;

use super::values::{ClientCap, TimeLimit};

#[derive(Debug, Clone, Args)]
pub struct StreamConfig {
    /// How often an idle stream gets a comment line, so that proxies do not
    /// close it: `15s`, `500ms`, … (`off`: never).
    #[arg(
        long,
        env = "CHRONIK_STREAM_HEARTBEAT",
        default_value = "15s",
        global = true
    )]
    pub stream_heartbeat: TimeLimit,

    /// How long a browser waits before it reconnects a stream that ended (the `retry:` field), in milliseconds.
    #[arg(
        long,
        env = "CHRONIK_STREAM_RETRY_MS",
        default_value_t = 3000,
        global = true
    )]
    pub stream_retry_ms: u32,

    /// Most streams open at once per client IP; `off` for no cap.
    #[arg(
        long,
        env = "CHRONIK_STREAM_LIMIT_PER_IP",
        default_value = "20",
        global = true
    )]
    pub stream_limit_per_ip: ClientCap,

    /// Most streams open at once per token; `off` for no cap.
    #[arg(
        long,
        env = "CHRONIK_STREAM_LIMIT_PER_TOKEN",
        default_value = "100",
        global = true
    )]
    pub stream_limit_per_token: ClientCap,

    /// How many batches (of at most 100 changes) a stream may fall behind the newest
    /// before the server ends it (with an `event: resume` message naming
    /// where to resume): what bounds a slow client's memory.
    #[arg(
        long,
        env = "CHRONIK_STREAM_BUFFER",
        default_value_t = 64,
        global = true
    )]
    pub stream_buffer: usize,

    /// How often streams read the feed even without a notification, so that
    /// a lost one only delays delivery.
    #[arg(long, env = "CHRONIK_STREAM_POLL", default_value = "5s", global = true)]
    pub stream_poll: TimeLimit,

    /// How long a stream token (`POST /v1/stream-tokens`) is valid.
    #[arg(
        long,
        env = "CHRONIK_STREAM_TOKEN_TTL",
        default_value = "5min",
        global = true
    )]
    pub stream_token_ttl: TimeLimit,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            stream_heartbeat: TimeLimit(Some(Duration::from_secs(15))),
            stream_retry_ms: 3000,
            stream_limit_per_ip: ClientCap(Some(20)),
            stream_limit_per_token: ClientCap(Some(100)),
            stream_buffer: 64,
            stream_poll: TimeLimit(Some(Duration::from_secs(5))),
            stream_token_ttl: TimeLimit(Some(Duration::from_secs(300))),
        }
    }
}
