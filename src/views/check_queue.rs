//! Single checks, answered in groups, each worker thread its own.
//!
//! On PostgreSQL every `GET /v1/check` that arrives while this thread's earlier group is
//! still at the database waits for the next group, and a group is one round trip
//! (`check_addresses`: one indexed query, a second only for addresses with no record)
//! instead of one per request: on PostgreSQL the round trip and the hop to the blocking
//! pool, not the lookup, are what a check costs. Each worker thread has its own queue, run
//! by a task on that thread, so a check reaches it without waking another thread (one
//! queue for the whole process cost a hop through another thread and back for every
//! check), and its own connection, which plans the lookups once (see [`LOOKUP_SETTINGS`]).
//!
//! On SQLite the lookups run on the server's worker thread (`Db::read_here`), and the checks
//! that thread has parsed by the time it next polls for I/O share one read transaction:
//! starting and ending one (its file locks, a system call each) cost as much as the lookup
//! itself.
//!
//! Why this stays exact across instances: nothing is cached. A check joins a group that has
//! not been sent yet, so its query starts after the check arrived and sees every opt-out
//! committed before it, at whichever instance (the opt-out was answered only after its
//! commit). Under no load a group is the one check, sent at once.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use super::check::{check_address, check_addresses, Verdict};
use crate::db::{Backend, Db, KeptConnection, StoreError};
use crate::domain::ids::{ListId, SenderId};

/// Groups of one worker thread at the database at once; while it is out, the thread's
/// arriving checks wait for the next. Measured with one queue per process, two instances on
/// 2 cores (64 connections, 20,000 subscriptions, before the lookup was a prepared
/// statement): 1 → 0.30 of `/healthz`, 2 → 0.32 (p99 6.5 ms), 4 → 0.24, 8 → 0.16; smaller
/// groups cost PostgreSQL more per check. One per thread is two per instance with one HTTP
/// worker per core on 2 cores.
const GROUPS_IN_FLIGHT: usize = 1;
/// The session settings of a thread's lookup connection. PostgreSQL plans a prepared
/// statement afresh for every execution (a "custom plan") while that looks cheaper than
/// its generic plan, and for a group of a few keys it does: planning took 0.07–0.11 ms and
/// the lookup itself 0.02–0.03 ms (`EXPLAIN ANALYZE`, 1,000,000 subscriptions), 16 % of
/// PostgreSQL's time at full load. The connection runs only the grouped lookups of
/// `db::key_lookups`, which probe a unique index once per key whatever their parameters,
/// so the generic plan is the same plan, made once.
const LOOKUP_SETTINGS: &str = "SET plan_cache_mode = force_generic_plan;";
/// The most checks answered by one group.
const MAX_GROUP: usize = 256;
/// Checks waiting for a group before a caller waits to join (bounded memory under overload).
const QUEUE: usize = 4096;

type Answer = Result<Verdict, StoreError>;

struct Waiting {
    sender_id: SenderId,
    list_id: ListId,
    address_key: String,
    reply: oneshot::Sender<Answer>,
}

/// Where single checks are answered, in groups of the request's own worker thread: on
/// SQLite on that thread ([`Db::read_here`]), on PostgreSQL on the blocking pool.
#[derive(Clone)]
pub struct CheckQueue {
    db: Db,
}

impl CheckQueue {
    /// Checks answered from `db`; each worker thread's queue starts with its first check.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The verdict for one address (by its keyed hash) on one of the sender's lists.
    pub async fn check(
        &self,
        sender_id: SenderId,
        list_id: ListId,
        address_key: String,
    ) -> Result<Verdict, StoreError> {
        let (reply, answer) = oneshot::channel();
        let waiting = Waiting {
            sender_id,
            list_id,
            address_key,
            reply,
        };
        match self.db.backend() {
            Backend::Postgres => {
                let queue = self.this_threads_queue();
                queue
                    .send(waiting)
                    .await
                    .map_err(|_| StoreError::Cancelled)?;
            }
            Backend::Sqlite => self.join_this_threads_group(waiting).await,
        }
        answer.await.map_err(|_| StoreError::Cancelled)?
    }

    /// PostgreSQL: this worker thread's queue; the first check on a thread starts its task
    /// (on this thread's runtime), which ends with the thread.
    fn this_threads_queue(&self) -> mpsc::Sender<Waiting> {
        THIS_THREADS_QUEUE.with_borrow_mut(|queue| match queue {
            Some((db, tx)) if db.same_database(&self.db) => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(run(self.db.clone(), rx));
                *queue = Some((self.db.clone(), tx.clone()));
                tx
            }
        })
    }

    /// SQLite: queues the check for this worker thread's next group, and starts that group
    /// when it is the first to wait. The group yields once, so the requests this thread
    /// reads meanwhile join it, then answers them all on this thread's connection. A check
    /// for another database than the waiting group's (tests run several servers in one
    /// process) is answered alone.
    async fn join_this_threads_group(&self, waiting: Waiting) {
        let joined = THIS_THREADS_GROUP.with_borrow_mut(|pending| match pending {
            Some((db, group)) if db.same_database(&self.db) => {
                group.push(waiting);
                Joined::Queued
            }
            Some(_) => Joined::Alone(waiting),
            None => {
                *pending = Some((self.db.clone(), vec![waiting]));
                Joined::First
            }
        });
        match joined {
            Joined::Queued => {}
            Joined::Alone(waiting) => answer_on_this_thread(&self.db, vec![waiting]),
            Joined::First => {
                tokio::task::spawn_local(async {
                    tokio::task::yield_now().await;
                    if let Some((db, group)) = THIS_THREADS_GROUP.with_borrow_mut(Option::take) {
                        answer_on_this_thread(&db, group);
                    }
                });
            }
        }
    }
}

/// What became of a check queued on this thread.
enum Joined {
    Queued,
    First,
    Alone(Waiting),
}

std::thread_local! {
    /// PostgreSQL: where this worker thread queues its checks, and for which database (tests
    /// run several servers in one process).
    static THIS_THREADS_QUEUE: std::cell::RefCell<Option<(Db, mpsc::Sender<Waiting>)>> =
        const { std::cell::RefCell::new(None) };
    /// SQLite: the checks waiting for this worker thread's next group, and their database.
    static THIS_THREADS_GROUP: std::cell::RefCell<Option<(Db, Vec<Waiting>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Answers a group on this thread's SQLite connection: one lookup per check, all in one read
/// transaction (a lone check reads in its statement's own).
fn answer_on_this_thread(db: &Db, group: Vec<Waiting>) {
    let verdicts = db.read_here(|conn| {
        let each = |conn: &mut crate::db::DbConn| {
            group
                .iter()
                .map(|w| check_address(conn, &w.sender_id, &w.list_id, &w.address_key))
                .collect::<Result<Vec<_>, _>>()
        };
        match group.len() {
            1 => each(conn),
            _ => crate::db::snapshot(conn, each),
        }
    });
    reply_all(group, verdicts);
}

async fn run(db: Db, rx: mpsc::Receiver<Waiting>) {
    let conn = KeptConnection::new(db, LOOKUP_SETTINGS);
    crate::batches::take_in_batches(rx, GROUPS_IN_FLIGHT, MAX_GROUP, |group| {
        let conn = conn.clone();
        async move { answer_group(&conn, group).await }
    })
    .await;
}

/// Looks the group up in one call on the blocking pool, a query pair per (sender, list),
/// and answers each waiting check.
async fn answer_group(conn: &KeptConnection, group: Vec<Waiting>) {
    let mut by_list: HashMap<(SenderId, ListId), Vec<Waiting>> = HashMap::new();
    for waiting in group {
        by_list
            .entry((waiting.sender_id.clone(), waiting.list_id.clone()))
            .or_default()
            .push(waiting);
    }
    let by_list: Vec<_> = by_list.into_iter().collect();
    let queries: Vec<(SenderId, ListId, Vec<String>)> = by_list
        .iter()
        .map(|((sender_id, list_id), waiting)| {
            let keys = waiting.iter().map(|w| w.address_key.clone()).collect();
            (sender_id.clone(), list_id.clone(), keys)
        })
        .collect();
    let verdicts = conn
        .run(move |conn| {
            queries
                .iter()
                .map(|(sender_id, list_id, keys)| check_addresses(conn, sender_id, list_id, keys))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
    // Both in the order of `by_list`, each list's checks in the order they queued.
    let verdicts = verdicts.map(|per_list| per_list.into_iter().flatten().collect());
    let group = by_list
        .into_iter()
        .flat_map(|(_, waiting)| waiting)
        .collect();
    reply_all(group, verdicts);
}

/// Answers each waiting check with its verdict (`verdicts` in the same order), or all of
/// them with the group's failure.
fn reply_all(group: Vec<Waiting>, verdicts: Result<Vec<Verdict>, StoreError>) {
    match verdicts {
        Ok(verdicts) => {
            for (waiting, verdict) in group.into_iter().zip(verdicts) {
                let _ = waiting.reply.send(Ok(verdict));
            }
        }
        Err(error) => {
            tracing::error!(error = %error, "a group of checks failed");
            let reason = error.to_string();
            for waiting in group {
                let failed = StoreError::SharedReadFailed(reason.clone());
                let _ = waiting.reply.send(Err(failed));
            }
        }
    }
}
