//! The closed set of reasons a request conflicts with the current state (HTTP 409), each
//! with its stable API code and the detail the client reads.

/// Why a request cannot be carried out in the state things are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// An `Idempotency-Key` was used before with a different request body.
    IdempotencyKeyReused,
    /// Only a pending request can be resent.
    NotPending,
    /// A list with this slug exists already.
    ListExists,
    /// Another request changed the list at the same time.
    ConcurrentUpdate,
    /// A receipt documents a confirmed consent; this one never was.
    NotConfirmed,
}

impl Conflict {
    /// The stable `code` of the problem answer.
    pub fn code(self) -> &'static str {
        match self {
            Conflict::IdempotencyKeyReused => "idempotency_conflict",
            Conflict::NotPending => "not_pending",
            Conflict::ListExists => "list_exists",
            Conflict::ConcurrentUpdate => "concurrent_update",
            Conflict::NotConfirmed => "not_confirmed",
        }
    }

    /// What the client is told.
    pub fn detail(self) -> &'static str {
        match self {
            Conflict::IdempotencyKeyReused => {
                "this Idempotency-Key was used with a different request body"
            }
            Conflict::NotPending => {
                "only a pending request can be resent; a new signup starts a new double opt-in"
            }
            Conflict::ListExists => "a list with this slug exists already",
            Conflict::ConcurrentUpdate => "the list was changed by another request; retry",
            Conflict::NotConfirmed => {
                "a receipt documents a confirmed consent; this request was never confirmed"
            }
        }
    }
}

impl std::error::Error for Conflict {}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.detail())
    }
}
