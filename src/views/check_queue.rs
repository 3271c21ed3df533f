//! Single checks, answered in groups.
//!
//! On PostgreSQL every `GET /v1/check` that arrives while earlier ones are still at the
//! database waits for the next group, and a group is one round trip (`check_addresses`: one
//! indexed query, a second only for addresses with no record) instead of one per request:
//! on PostgreSQL the round trip and the hop to the blocking pool, not the lookup, are what
//! a check costs.
//!
//! On SQLite the lookups run on the server's worker thread (`Db::read`), and the checks that
//! thread has parsed by the time it next polls for I/O share one read transaction: starting
//! and ending one (its file locks, a system call each) cost as much as the lookup itself.
//!
//! Why this stays exact across instances: nothing is cached. A check joins a group that has
//! not been sent yet, so its query starts after the check arrived and sees every opt-out
//! committed before it, at whichever instance (the opt-out was answered only after its
//! commit). Under no load a group is the one check, sent at once.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use super::check::{check_address, check_addresses, Verdict};
use crate::db::{Backend, Db, StoreError};
use crate::domain::ids::{ListId, SenderId};

/// Groups at the database at once; while both are out, arriving checks wait for the next.
/// Measured with two instances on 2 cores (64 connections, 20,000 subscriptions, before the
/// lookup was a prepared statement): 1 → 0.30 of `/healthz`, 2 → 0.32 (p99 6.5 ms), 4 →
/// 0.24, 8 → 0.16; smaller groups cost PostgreSQL more per check.
const GROUPS_IN_FLIGHT: usize = 2;
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

/// Where single checks are answered, in groups: on SQLite on the request's own worker
/// thread ([`Db::read`]), on PostgreSQL on the blocking pool. The PostgreSQL group worker
/// ends when the last clone is dropped.
#[derive(Clone)]
pub struct CheckQueue {
    db: Db,
    /// PostgreSQL only.
    tx: Option<mpsc::Sender<Waiting>>,
}

impl CheckQueue {
    /// On PostgreSQL, starts the group worker on the current Tokio runtime.
    pub fn start(db: Db) -> Self {
        let tx = (db.backend() == Backend::Postgres).then(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(db.clone(), rx));
            tx
        });
        Self { db, tx }
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
        match &self.tx {
            Some(tx) => tx.send(waiting).await.map_err(|_| StoreError::Cancelled)?,
            None => self.join_this_threads_group(waiting).await,
        }
        answer.await.map_err(|_| StoreError::Cancelled)?
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
            Joined::Alone(waiting) => answer_on_this_thread(&self.db, vec![waiting]).await,
            Joined::First => {
                tokio::task::spawn_local(async {
                    tokio::task::yield_now().await;
                    if let Some((db, group)) = THIS_THREADS_GROUP.with_borrow_mut(Option::take) {
                        answer_on_this_thread(&db, group).await;
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
    /// SQLite: the checks waiting for this worker thread's next group, and their database.
    static THIS_THREADS_GROUP: std::cell::RefCell<Option<(Db, Vec<Waiting>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Answers a group on this thread's SQLite connection: one lookup per check, all in one read
/// transaction (a lone check reads in its statement's own).
async fn answer_on_this_thread(db: &Db, group: Vec<Waiting>) {
    let lookups: Vec<(SenderId, ListId, String)> = group
        .iter()
        .map(|w| {
            (
                w.sender_id.clone(),
                w.list_id.clone(),
                w.address_key.clone(),
            )
        })
        .collect();
    let verdicts = db
        .read(move |conn| {
            let each = |conn: &mut crate::db::DbConn| {
                lookups
                    .iter()
                    .map(|(sender_id, list_id, key)| check_address(conn, sender_id, list_id, key))
                    .collect::<Result<Vec<_>, _>>()
            };
            match lookups.len() {
                1 => each(conn),
                _ => crate::db::snapshot(conn, each),
            }
        })
        .await;
    reply_all(group, verdicts);
}

async fn run(db: Db, rx: mpsc::Receiver<Waiting>) {
    crate::batches::take_in_batches(rx, GROUPS_IN_FLIGHT, MAX_GROUP, |group| {
        let db = db.clone();
        async move { answer_group(&db, group).await }
    })
    .await;
}

/// Looks the group up in one call on the blocking pool, a query pair per (sender, list),
/// and answers each waiting check.
async fn answer_group(db: &Db, group: Vec<Waiting>) {
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
    let verdicts = db
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
