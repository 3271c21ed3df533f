//! Group commit on SQLite: writes from concurrent requests share one transaction and one
//! commit. SQLite has one writer at a time, and a signup's own statements take less time
//! than the `BEGIN IMMEDIATE`, `COMMIT`, WAL append and hand-over to the next writer that
//! wrapped each of them; one writer thread running whatever is waiting in one transaction
//! pays those once per group.
//!
//! Checkpoints, which copy the WAL back into the database file and fsync it, would run
//! inside some commit (SQLite's auto-checkpoint) and stall every write queued behind it;
//! the writer's connection leaves them to a thread of their own, which checkpoints what has
//! been committed without blocking the writer, and asks the writer to catch up when the WAL
//! grows too long (see [`super::wal`]).
//!
//! Each write runs in a savepoint of its own: when it fails, only its savepoint is rolled
//! back and the others go on. Nobody is answered before the group's `COMMIT` returns, so an
//! answer still means the write is in the database. The writes of a group run one after
//! another and each sees the ones before it, exactly as separate transactions taking turns
//! would: locks, caps and idempotency rules hold as they did.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2::R2D2Connection;
use diesel::Connection;
use r2d2::ManageConnection;
use tokio::sync::oneshot;

use super::wal::{checkpoint_until, wal_file, writer_settings, CheckpointSignals, WAL_LIMIT_BYTES};
use super::{write_transaction, ConnectionManager, DatabaseUrl, DbConn, StoreError};

/// A group is cut at this many writes, so that the first in it is not kept waiting for
/// the commit behind an arbitrarily long queue.
const MOST_PER_GROUP: usize = 64;

/// The queue in front of the writer thread; the thread ends when the last handle is gone.
pub(super) struct GroupWriter {
    jobs: mpsc::Sender<Box<dyn Job>>,
    committed: Arc<Committed>,
}

/// What the writer thread works with.
struct Writer {
    manager: ConnectionManager,
    /// The writer's own connection, opened again after a failure with these settings.
    conn: Option<DbConn>,
    settings: String,
    committed: Arc<Committed>,
    signals: Arc<CheckpointSignals>,
}

/// What the writer has committed so far, for `/metrics`.
#[derive(Debug, Default)]
pub struct Committed {
    /// Shared transactions committed.
    pub groups: AtomicU64,
    /// Writes answered with success from those transactions.
    pub writes: AtomicU64,
}

impl GroupWriter {
    pub(super) fn start(url: &DatabaseUrl) -> std::io::Result<Self> {
        Self::start_with_wal_limit(url, WAL_LIMIT_BYTES)
    }

    /// [`GroupWriter::start`], with the WAL started over past `wal_limit` bytes.
    pub(super) fn start_with_wal_limit(url: &DatabaseUrl, wal_limit: u64) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let committed = Arc::new(Committed::default());
        let signals = Arc::new(CheckpointSignals::default());
        let (stop, stopped) = mpsc::channel::<()>();
        let (checkpoint_manager, checkpoint_signals) = (manager(url), Arc::clone(&signals));
        let wal = wal_file(url);
        std::thread::Builder::new()
            .name("consentry-checkpoint".to_owned())
            .spawn(move || {
                let wal = wal.as_deref().map(|file| (file, wal_limit));
                checkpoint_until(&checkpoint_manager, &checkpoint_signals, wal, &stopped);
            })?;
        let mut writer = Writer {
            manager: manager(url),
            settings: writer_settings(wal_limit),
            conn: None,
            committed: Arc::clone(&committed),
            signals,
        };
        std::thread::Builder::new()
            .name("consentry-writer".to_owned())
            .spawn(move || {
                writer.write_groups(&queue);
                // The last handle is gone: the checkpoint thread ends after one more round.
                drop(stop);
            })?;
        Ok(Self { jobs, committed })
    }

    /// Queues `f` for the next group at once (not when first polled, so callers queue in
    /// the order they call) and returns the wait until that group has committed.
    pub(super) fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Write {
            f: Some(f),
            result: None,
            reply,
        };
        let queued = self.jobs.send(Box::new(job));
        async move {
            queued.map_err(|_| StoreError::Cancelled)?;
            answer.await.map_err(|_| StoreError::Cancelled)?
        }
    }

    pub(super) fn committed(&self) -> &Committed {
        &self.committed
    }
}

/// One queued write, with its answer once it has run.
trait Job: Send {
    /// Runs the write in a savepoint of the open transaction. An error means the
    /// transaction itself is lost (SQLite rolled it back, or a savepoint could not be
    /// undone), not that this write failed: that is kept as its answer.
    fn run(&mut self, conn: &mut DbConn) -> Result<(), StoreError>;

    /// Whether the write ran and succeeded (it is stored once the group commits).
    fn succeeded(&self) -> bool;

    /// Sends the answer once the group's transaction has ended, failed or not.
    fn answer(self: Box<Self>, group_failure: Option<&StoreError>);
}

struct Write<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Write<T, F>
where
    F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send,
    T: Send,
{
    fn run(&mut self, conn: &mut DbConn) -> Result<(), StoreError> {
        let Some(f) = self.f.take() else {
            return Ok(());
        };
        let depth_before = depth(conn)?;
        let mut value = None;
        let ended = std::panic::catch_unwind(AssertUnwindSafe(|| {
            conn.transaction(|conn| {
                value = Some(f(conn)?);
                Ok::<_, StoreError>(())
            })
        }));
        self.result = Some(match (ended, value) {
            (Ok(Ok(())), Some(value)) => Ok(value),
            (Ok(Err(e)), _) => Err(e),
            (Ok(Ok(())), None) => Err(StoreError::Cancelled),
            (Err(_), _) => {
                // A bug, not bad input: undo the savepoints the unwinding left open, so the
                // panic costs this write only, as it would on a blocking task of its own.
                tracing::error!("a write panicked; its savepoint is rolled back");
                while depth(conn)? > depth_before {
                    Manager::rollback_transaction(conn)?;
                }
                Err(StoreError::Cancelled)
            }
        });
        match depth(conn)? {
            0 => Err(StoreError::SharedTransactionLost(
                "the transaction ended inside one of its writes".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    fn succeeded(&self) -> bool {
        matches!(self.result, Some(Ok(_)))
    }

    fn answer(self: Box<Self>, group_failure: Option<&StoreError>) {
        let answer = match (self.result, group_failure) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), None) => Ok(value),
            (_, failure) => Err(StoreError::SharedTransactionLost(
                failure.map_or_else(|| "the write did not run".to_owned(), ToString::to_string),
            )),
        };
        // The caller may have gone (a dropped request); its write stands either way.
        let _ = self.reply.send(answer);
    }
}

type Manager = <DbConn as Connection>::TransactionManager;

/// How many transactions and savepoints are open; an error when diesel lost track of them
/// (a failed rollback), which ends the shared transaction.
fn depth(conn: &mut DbConn) -> Result<u32, StoreError> {
    Manager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map(|depth| depth.map_or(0, std::num::NonZeroU32::get))
        .map_err(StoreError::from)
}

impl Writer {
    /// The writer thread: takes the first waiting write, and with it whatever else is
    /// waiting, until the queue's last sender is gone.
    fn write_groups(&mut self, queue: &mpsc::Receiver<Box<dyn Job>>) {
        while let Ok(first) = queue.recv() {
            let mut group = vec![first];
            group.extend(queue.try_iter().take(MOST_PER_GROUP - 1));
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.commit(&mut group)));
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, writes = group.len(), "a shared write transaction failed");
                    Some(e)
                }
                Err(_) => {
                    // Past the writes' own guard: the group is dropped unanswered and its
                    // callers get `Cancelled`; the connection, left inside a transaction,
                    // is closed.
                    tracing::error!(writes = group.len(), "a shared write transaction panicked");
                    self.conn = None;
                    continue;
                }
            };
            if self.conn.as_mut().is_some_and(|conn| conn.is_broken()) {
                self.conn = None;
            }
            if failure.is_none() {
                // Counted before anyone is answered, so an answered caller sees its write
                // counted.
                let stored = group.iter().filter(|job| job.succeeded()).count() as u64;
                self.signals.dirty.store(true, Ordering::Release);
                self.committed.groups.fetch_add(1, Ordering::Relaxed);
                self.committed.writes.fetch_add(stored, Ordering::Relaxed);
            }
            for job in group {
                job.answer(failure.as_ref());
            }
            if self.signals.catch_up.swap(false, Ordering::AcqRel) {
                self.catch_up();
            }
        }
    }

    /// Checkpoints the frames committed since the checkpoint thread's last pass, between two
    /// groups, so that the next group's first write finds the WAL fully checkpointed and
    /// SQLite writes it from its beginning again, over pages the kernel already holds.
    fn catch_up(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
            tracing::warn!(error = %e, "the writer's WAL checkpoint failed; it tries again later");
        }
        // A pass that found the WAL long while this ran asks for nothing more.
        self.signals.catch_up.store(false, Ordering::Release);
    }

    fn commit(&mut self, group: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            empty => empty.insert(open(&self.manager, &self.settings)?),
        };
        write_transaction(conn, |conn| {
            group.iter_mut().try_for_each(|job| job.run(conn))
        })
    }
}

fn manager(url: &DatabaseUrl) -> ConnectionManager {
    ConnectionManager { url: url.clone() }
}

/// A connection of the pool's kind, outside the pool, with `settings` applied.
pub(super) fn open(manager: &ConnectionManager, settings: &str) -> Result<DbConn, StoreError> {
    let mut conn = manager.connect().map_err(StoreError::Connect)?;
    conn.batch_execute(settings)?;
    Ok(conn)
}
