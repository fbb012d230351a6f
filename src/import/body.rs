//! Streaming a request body into the import's reading thread, with its own
//! size limit (`CHRONIK_MAX_IMPORT_BYTES`), so that a body of any length
//! passes through a few chunks of memory.

use actix_web::web::{Bytes, Payload};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::error::ApiError;

/// Channel capacity between the body and the reading thread, in chunks.
const BODY_CHUNKS: usize = 16;

/// A channel whose receiving end is a blocking [`std::io::Read`], to hand
/// an async body to the reading thread.
pub fn channel() -> (mpsc::Sender<std::io::Result<Bytes>>, ChannelReader) {
    let (tx, rx) = mpsc::channel(BODY_CHUNKS);
    (tx, ChannelReader::new(rx))
}

/// The receiving end of a body channel, read from a blocking thread.
pub struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    chunk: Bytes,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<std::io::Result<Bytes>>) -> Self {
        Self {
            rx,
            chunk: Bytes::new(),
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.chunk = chunk?,
                // The sender is gone: the body ended (a broken one sends an error first).
                None => return Ok(0),
            }
        }
        let taken = self.chunk.split_to(buf.len().min(self.chunk.len()));
        for (to, from) in buf.iter_mut().zip(taken.iter()) {
            *to = *from;
        }
        Ok(taken.len())
    }
}

/// Passes the request body to `tx`, at most `limit` bytes. A broken
/// upload (the client went away) or a body over the limit reaches the
/// reader as an error, so the import fails and writes nothing.
pub async fn forward(
    mut payload: Payload,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    limit: u64,
) -> Result<(), ApiError> {
    let mut total: u64 = 0;
    while let Some(chunk) = payload.next().await {
        let (item, outcome) = match chunk {
            Ok(chunk) => {
                total += chunk.len() as u64;
                if total > limit {
                    let detail = format!(
                        "the import body is larger than {limit} bytes (CHRONIK_MAX_IMPORT_BYTES)"
                    );
                    (
                        Err(std::io::Error::other(detail.clone())),
                        Err(ApiError::PayloadTooLarge(detail)),
                    )
                } else {
                    (Ok(chunk), Ok(()))
                }
            }
            Err(err) => {
                let detail = format!("the upload broke off: {err}");
                (
                    Err(std::io::Error::other(detail.clone())),
                    Err(ApiError::field("body", detail)),
                )
            }
        };
        let failed = outcome.is_err();
        // The reader may have stopped already (it found the input unusable); then its answer counts.
        if tx.send(item).await.is_err() {
            return Ok(());
        }
        if failed {
            return outcome;
        }
    }
    Ok(())
}
