//! The answers of one batch check on their way to the client. They are handed over as fast as
//! the client takes them; while the client is still sending its list they are held, up to a
//! bound, instead of waiting for it to read. A client that sends its whole body before it
//! reads the answer (Python's `requests`, Ruby's `Net::HTTP`, most blocking clients) would
//! otherwise fill the socket buffers both ways and wait for the server while the server
//! waits for it. Answers are counted and digested when handed over, so the receipt covers
//! exactly the answers that were sent.

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::web::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::{self, error::TrySendError};

/// One chunk of answers and what it adds to the receipt.
pub struct ChunkOut {
    pub bytes: Bytes,
    pub lines: u64,
    pub allowed: u64,
}

/// The client has gone, or has not taken an answer within the send timeout.
pub struct Gone;

pub struct Answers {
    tx: mpsc::Sender<Result<Bytes, actix_web::Error>>,
    held: VecDeque<ChunkOut>,
    held_bytes: usize,
    max_held: usize,
    send_timeout: Duration,
    digest: Sha256,
    count: u64,
    allowed: u64,
}

impl Answers {
    pub fn new(
        tx: mpsc::Sender<Result<Bytes, actix_web::Error>>,
        max_held: usize,
        send_timeout: Duration,
    ) -> Self {
        Self {
            tx,
            held: VecDeque::new(),
            held_bytes: 0,
            max_held,
            send_timeout,
            digest: Sha256::new(),
            count: 0,
            allowed: 0,
        }
    }

    /// Adds a chunk while the list is still coming: hands over what the client has room for
    /// and waits for it only when more than the bound is held.
    pub async fn push(&mut self, out: ChunkOut) -> Result<(), Gone> {
        self.held_bytes += out.bytes.len();
        self.held.push_back(out);
        self.hand_over(self.max_held).await
    }

    /// The list has ended: hands over everything held.
    pub async fn finish(&mut self) -> Result<(), Gone> {
        self.hand_over(0).await
    }

    /// What the receipt records: (answers sent, of them allowed, SHA-256 hex of their bytes).
    pub fn receipt(self) -> (u64, u64, String) {
        (
            self.count,
            self.allowed,
            hex::encode(self.digest.finalize()),
        )
    }

    /// Breaks the transfer off with an error the client sees as a broken body.
    pub async fn fail(&self, error: actix_web::Error) {
        let _ = self.tx.send(Err(error)).await;
    }

    /// Hands over held chunks in order until at most `keep` bytes are held.
    async fn hand_over(&mut self, keep: usize) -> Result<(), Gone> {
        while let Some(front) = self.held.front() {
            match self.tx.try_send(Ok(front.bytes.clone())) {
                Ok(()) => {}
                Err(TrySendError::Full(chunk)) => {
                    if self.held_bytes <= keep {
                        return Ok(());
                    }
                    self.tx
                        .send_timeout(chunk, self.send_timeout)
                        .await
                        .map_err(|_| Gone)?;
                }
                Err(TrySendError::Closed(_)) => return Err(Gone),
            }
            if let Some(sent) = self.held.pop_front() {
                self.held_bytes -= sent.bytes.len();
                self.digest.update(&sent.bytes);
                self.count += sent.lines;
                self.allowed += sent.allowed;
            }
        }
        Ok(())
    }
}
