//! The WAL of the group writer's SQLite file: checkpointed by a thread of its own, and
//! started over before it grows long.
//!
//! SQLite writes the WAL from its beginning again only when a write begins on a fully
//! checkpointed WAL. The checkpoint thread never blocks the writer, so while writes never
//! pause it is always behind, and the WAL grew with every commit: 1.5 GB in an 8-second
//! signup benchmark, for a 100 MB database, with the kernel zeroing each new page of it (a
//! fifth of the server's CPU). Past [`WAL_LIMIT_BYTES`] the thread therefore checkpoints
//! until it nearly keeps up and then asks the writer to checkpoint the last few frames
//! itself, between two groups; its next group starts the WAL over, and SQLite cuts the
//! file back to the limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use super::group::open;
use super::{ConnectionManager, DatabaseUrl};

/// How often the checkpoint thread looks for newly committed writes.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How often the checkpoint thread asks the writer to catch up while the WAL stays past its
/// limit (a reader on older frames can keep it from starting over).
const CATCHING_UP_EVERY: Duration = Duration::from_millis(10);

/// A pass this short leaves the writer little to catch up on: only what was committed
/// while it ran. A pass copies what was committed during the one before, so back-to-back
/// passes shorten until one is this short. Measured on 2 cores under sustained signups
/// (about 70,000 WAL frames a second): a pass took about 10 ms plus 3.5 µs a frame, and
/// a writer that caught up right after the pass that found the WAL past its limit stopped
/// for 47–74 ms each time, three times a second.
const QUICK_PASS: Duration = Duration::from_millis(15);

/// Back-to-back passes before the writer is asked anyway, for a disk on which no pass is
/// ever quick.
const MOST_PASSES: u32 = 8;

/// The WAL file's size past which it is started over, and to which SQLite cuts the file
/// back when it is (`journal_size_limit`): about 65,000 frames. Each start-over stops the
/// writer once (the catch-up: a checkpoint of the last frames and two fsyncs, 10–60 ms
/// here), so the limit sets how often that happens. Measured under sustained signups on
/// 2 cores (16 clients, 30 s): at 64 MiB about three times a second, 4,560–4,909
/// signups/s with a p99 of 17–31 ms; at 256 MiB about once a second, 5,098–5,367/s with a
/// p99 of 6–8 ms. Reads look a page up only among the frames not yet checkpointed, so a
/// longer WAL does not slow them.
pub(super) const WAL_LIMIT_BYTES: u64 = 256 << 20;

/// What the writer and the checkpoint thread tell each other.
#[derive(Default)]
pub(super) struct CheckpointSignals {
    /// Set after each commit; the checkpoint thread clears it.
    pub(super) dirty: AtomicBool,
    /// Set by the checkpoint thread while the WAL is past its limit, right after a quick
    /// pass (see [`checkpoint_until`]); the writer clears it.
    pub(super) catch_up: AtomicBool,
}

/// The writer's connection leaves checkpoints to the checkpoint thread (and the catching
/// up it asks for), and cuts the WAL file back to `wal_limit` bytes when it starts over.
pub(super) fn writer_settings(wal_limit: u64) -> String {
    format!("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {wal_limit};")
}

/// The WAL file beside the database file; none for an in-memory database.
pub(super) fn wal_file(url: &DatabaseUrl) -> Option<PathBuf> {
    let path = url.connection_string();
    (!path.starts_with(':')).then(|| PathBuf::from(format!("{path}-wal")))
}

/// The checkpoint thread: every [`CHECKPOINT_EVERY`], when something was committed, copies
/// the WAL into the database file as far as readers allow (`PASSIVE` waits for nobody),
/// until `stopped` says the writer is gone. Writes outside the group writer still
/// auto-checkpoint on their own connections.
///
/// Past the WAL's limit it checkpoints again at once until a pass is quick ([`QUICK_PASS`],
/// at most [`MOST_PASSES`] in a row), then asks the writer to catch up, and keeps asking
/// every [`CATCHING_UP_EVERY`] while the WAL stays past its limit. The writer catches up on
/// only what was committed during that last, quick pass, so it stops for as short a time
/// as it can. A reader still on older frames can keep the WAL from starting over; the next
/// pass asks again.
pub(super) fn checkpoint_until(
    manager: &ConnectionManager,
    signals: &CheckpointSignals,
    wal: Option<(&Path, u64)>,
    stopped: &mpsc::Receiver<()>,
) {
    let mut conn = None;
    let mut wait = CHECKPOINT_EVERY;
    let mut passes_past_limit = 0;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        wait = CHECKPOINT_EVERY;
        if !signals.dirty.swap(false, Ordering::AcqRel) {
            continue;
        }
        let started = Instant::now();
        let done = match &mut conn {
            Some(conn) => conn,
            empty => match open(manager, "") {
                Ok(opened) => empty.insert(opened),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the checkpoint connection");
                    continue;
                }
            },
        }
        .batch_execute("PRAGMA wal_checkpoint(PASSIVE);");
        if let Err(e) = done {
            tracing::warn!(error = %e, "a WAL checkpoint failed; the next one tries again");
            conn = None;
            continue;
        }
        let past_limit =
            wal.is_some_and(|(file, limit)| std::fs::metadata(file).is_ok_and(|m| m.len() > limit));
        if !past_limit {
            passes_past_limit = 0;
            continue;
        }
        passes_past_limit += 1;
        if started.elapsed() <= QUICK_PASS || passes_past_limit >= MOST_PASSES {
            signals.catch_up.store(true, Ordering::Release);
            passes_past_limit = 0;
            wait = CATCHING_UP_EVERY;
        } else {
            // Something was committed during this pass; the next one copies it.
            signals.dirty.store(true, Ordering::Release);
            wait = Duration::ZERO;
        }
    }
}
