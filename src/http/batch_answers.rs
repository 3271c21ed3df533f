//! The answers of one batch check on their way to the client. They are handed over as fast as
//! the client takes them; while the client is still sending its list they are held instead
//! of waiting for it to read. A client that sends its whole body before it reads the answer
//! (Python's `requests`, Ruby's `Net::HTTP`, most blocking clients) would otherwise fill the
//! socket buffers both ways and wait for the server while the server waits for it.
//!
//! Held answers stay in memory up to one bound and spill past it to a temporary file
//! (unlinked at creation, so it leaves nothing behind when the request ends), up to a second
//! bound; only past both does the batch wait for the client. Memory stays constant however
//! long the list. Answers are counted and digested when handed over, so the receipt covers
//! exactly the answers that were sent.

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::time::Duration;

use actix_web::web::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::flows::check::BatchSummary;

/// One chunk of answers and what it adds to the receipt.
pub struct ChunkOut {
    pub bytes: Bytes,
    pub lines: u64,
    pub allowed: u64,
}

/// The client has gone, has not taken an answer within the send timeout, or the spool
/// cannot be written or read.
pub struct Gone;

/// How much may be held for a client that is not reading yet.
#[derive(Clone, Copy)]
pub struct Bounds {
    pub memory: usize,
    pub spool: u64,
}

/// How far a hand-over goes before it returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// Until the client has no room: nothing is waited for.
    NoRoom,
    /// Past both bounds: waits for the client until memory is back within its bound.
    WithinBounds,
    /// Everything held is handed over, waiting for the client as long as it takes.
    AllSent,
}

/// A held chunk: its bytes in memory, read back from the spool to be handed over next, or
/// their length in the spool (in order).
enum Held {
    Memory(ChunkOut),
    Loaded(ChunkOut),
    Spooled {
        len: usize,
        lines: u64,
        allowed: u64,
    },
}

pub struct Answers {
    tx: mpsc::Sender<Result<Bytes, actix_web::Error>>,
    held: VecDeque<Held>,
    memory_bytes: usize,
    spool: Option<Spool>,
    bounds: Bounds,
    send_timeout: Duration,
    digest: Sha256,
    count: u64,
    allowed: u64,
}

/// The spill file: written at `end`, read back from `start`; emptied whenever it drains.
struct Spool {
    file: tokio::fs::File,
    start: u64,
    end: u64,
}

impl Answers {
    pub fn new(
        tx: mpsc::Sender<Result<Bytes, actix_web::Error>>,
        bounds: Bounds,
        send_timeout: Duration,
    ) -> Self {
        Self {
            tx,
            held: VecDeque::new(),
            memory_bytes: 0,
            spool: None,
            bounds,
            send_timeout,
            digest: Sha256::new(),
            count: 0,
            allowed: 0,
        }
    }

    /// Adds a chunk while the list is still coming: hands over what the client has room for
    /// and waits for it only when more than both bounds is held.
    pub async fn push(&mut self, out: ChunkOut) -> Result<(), Gone> {
        // The queue keeps the order wherever each chunk's bytes are.
        let len = out.bytes.len();
        let until = if self.held.is_empty() || self.memory_bytes + len <= self.bounds.memory {
            self.hold_in_memory(out);
            Until::NoRoom
        } else if self.spooled_bytes() + len as u64 <= self.bounds.spool {
            self.spill(out).await?;
            Until::NoRoom
        } else {
            self.hold_in_memory(out);
            Until::WithinBounds
        };
        self.hand_over(until).await
    }

    /// The list has ended: hands over everything held.
    pub async fn finish(&mut self) -> Result<(), Gone> {
        self.hand_over(Until::AllSent).await
    }

    /// What the receipt records of the answers handed over; `complete` says whether the
    /// batch ran to the end of its list.
    pub fn receipt(self, complete: bool) -> BatchSummary {
        BatchSummary {
            count: self.count,
            allowed: self.allowed,
            results_sha256: hex::encode(self.digest.finalize()),
            complete,
        }
    }

    /// Breaks the transfer off with an error the client sees as a broken body.
    pub async fn fail(&self, error: actix_web::Error) {
        let _ = self.tx.send(Err(error)).await;
    }

    fn hold_in_memory(&mut self, out: ChunkOut) {
        self.memory_bytes += out.bytes.len();
        self.held.push_back(Held::Memory(out));
    }

    fn spooled_bytes(&self) -> u64 {
        self.spool.as_ref().map_or(0, |s| s.end - s.start)
    }

    async fn spill(&mut self, out: ChunkOut) -> Result<(), Gone> {
        if self.spool.is_none() {
            let file = tempfile::tempfile().map_err(|error| {
                tracing::error!(%error, "cannot create the batch check's spool file");
                Gone
            })?;
            self.spool = Some(Spool {
                file: tokio::fs::File::from_std(file),
                start: 0,
                end: 0,
            });
        }
        let spool = self.spool.as_mut().ok_or(Gone)?;
        spool.write(&out.bytes).await?;
        self.held.push_back(Held::Spooled {
            len: out.bytes.len(),
            lines: out.lines,
            allowed: out.allowed,
        });
        Ok(())
    }

    /// Brings the first held chunk into memory (from the spool if it is there). A chunk read
    /// back is not counted against the memory bound: it is the one being handed over, and
    /// counting it would make a chunk larger than the bound wait for a client that reads last.
    async fn front_in_memory(&mut self) -> Result<Option<&ChunkOut>, Gone> {
        if let Some(Held::Spooled {
            len,
            lines,
            allowed,
        }) = self.held.front()
        {
            let (len, lines, allowed) = (*len, *lines, *allowed);
            let spool = self.spool.as_mut().ok_or(Gone)?;
            let bytes = spool.read(len).await?;
            if let Some(front) = self.held.front_mut() {
                *front = Held::Loaded(ChunkOut {
                    bytes,
                    lines,
                    allowed,
                });
            }
        }
        Ok(match self.held.front() {
            Some(Held::Memory(out) | Held::Loaded(out)) => Some(out),
            _ => None,
        })
    }

    /// Hands over held chunks in order, as far as `until` says; each wait for the client is
    /// bounded by the send timeout.
    async fn hand_over(&mut self, until: Until) -> Result<(), Gone> {
        while let Some(bytes) = self.front_in_memory().await?.map(|f| f.bytes.clone()) {
            match self.tx.try_send(Ok(bytes)) {
                Ok(()) => {}
                Err(TrySendError::Full(chunk)) => {
                    let done = match until {
                        Until::NoRoom => true,
                        Until::WithinBounds => self.memory_bytes <= self.bounds.memory,
                        Until::AllSent => false,
                    };
                    if done {
                        return Ok(());
                    }
                    self.tx
                        .send_timeout(chunk, self.send_timeout)
                        .await
                        .map_err(|_| Gone)?;
                }
                Err(TrySendError::Closed(_)) => return Err(Gone),
            }
            let sent = match self.held.pop_front() {
                Some(Held::Memory(sent)) => {
                    self.memory_bytes -= sent.bytes.len();
                    sent
                }
                Some(Held::Loaded(sent)) => sent,
                _ => return Err(Gone),
            };
            self.digest.update(&sent.bytes);
            self.count += sent.lines;
            self.allowed += sent.allowed;
        }
        Ok(())
    }
}

impl Spool {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Gone> {
        if self.start == self.end {
            // Drained: start over at the beginning instead of growing the file.
            self.start = 0;
            self.end = 0;
            self.file.set_len(0).await.map_err(spool_failed)?;
        }
        self.file
            .seek(SeekFrom::Start(self.end))
            .await
            .map_err(spool_failed)?;
        self.file.write_all(bytes).await.map_err(spool_failed)?;
        self.file.flush().await.map_err(spool_failed)?;
        self.end += bytes.len() as u64;
        Ok(())
    }

    async fn read(&mut self, len: usize) -> Result<Bytes, Gone> {
        self.file
            .seek(SeekFrom::Start(self.start))
            .await
            .map_err(spool_failed)?;
        let mut bytes = vec![0; len];
        self.file
            .read_exact(&mut bytes)
            .await
            .map_err(spool_failed)?;
        self.start += len as u64;
        Ok(bytes.into())
    }
}

fn spool_failed(error: std::io::Error) -> Gone {
    tracing::error!(%error, "the batch check's spool file failed");
    Gone
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn chunk(i: usize, len: usize) -> ChunkOut {
        let mut text = format!("{i:08}");
        text.extend(std::iter::repeat_n('.', len - 9));
        text.push('\n');
        ChunkOut {
            bytes: Bytes::from(text),
            lines: 1,
            allowed: (i % 2) as u64,
        }
    }

    /// Pushes `count` chunks of `len` bytes while nobody reads, then reads everything.
    async fn unread_then_read(count: usize, len: usize, bounds: Bounds) -> Vec<u8> {
        let (tx, mut rx) = mpsc::channel(1);
        let mut answers = Answers::new(tx, bounds, Duration::from_secs(2));
        for i in 0..count {
            tokio::time::timeout(Duration::from_secs(5), answers.push(chunk(i, len)))
                .await
                .expect("a push within both bounds does not wait for the client")
                .unwrap_or_else(|Gone| panic!("push {i} gave up"));
        }
        let reader = async move {
            let mut all = Vec::new();
            while let Some(Ok(bytes)) = rx.recv().await {
                all.extend_from_slice(&bytes);
            }
            all
        };
        let finish = async move {
            let finished = answers.finish().await;
            (finished, answers.receipt(true))
        };
        let ((finished, summary), all) = tokio::join!(finish, reader);
        assert!(finished.is_ok(), "finish gave up");
        assert_eq!(summary.count, count as u64);
        assert_eq!(summary.allowed, (count / 2) as u64);
        assert_eq!(summary.results_sha256, hex::encode(Sha256::digest(&all)));
        all
    }

    fn expected(count: usize, len: usize) -> Vec<u8> {
        (0..count)
            .flat_map(|i| chunk(i, len).bytes.to_vec())
            .collect()
    }

    #[tokio::test]
    async fn answers_past_the_memory_bound_go_through_the_spool_in_order() {
        let bounds = Bounds {
            memory: 1000,
            spool: 1 << 20,
        };
        assert_eq!(unread_then_read(500, 100, bounds).await, expected(500, 100));
    }

    #[tokio::test]
    async fn chunks_larger_than_the_memory_bound_do_not_wait_for_the_client() {
        let bounds = Bounds {
            memory: 64,
            spool: 1 << 20,
        };
        assert_eq!(unread_then_read(200, 300, bounds).await, expected(200, 300));
    }

    #[tokio::test]
    async fn past_both_bounds_a_client_that_does_not_read_is_given_up() {
        let (tx, _rx) = mpsc::channel(1);
        let bounds = Bounds {
            memory: 100,
            spool: 1000,
        };
        let mut answers = Answers::new(tx, bounds, Duration::from_millis(50));
        let mut gave_up = false;
        for i in 0..100 {
            if answers.push(chunk(i, 100)).await.is_err() {
                gave_up = true;
                assert!(i > 10, "both bounds are used before giving up (at {i})");
                break;
            }
        }
        assert!(gave_up);
    }
}
