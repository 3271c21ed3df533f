-- The whole product's schema (foundation). Portable types only: ids are UUID text, times are
-- naive UTC TIMESTAMP, counters BIGINT, digests lower-case hex TEXT. Keep in step with
-- ../../postgres/2026-11-27-000001_foundation/up.sql.

CREATE TABLE senders (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    legal_name     TEXT NOT NULL,
    postal_address TEXT NOT NULL,
    contact        TEXT NOT NULL,
    on_behalf_of   TEXT,
    jurisdiction   TEXT NOT NULL DEFAULT 'JP',
    retention_days BIGINT NOT NULL DEFAULT 31,
    legal_hold     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    sender_id   TEXT NOT NULL REFERENCES senders (id),
    role        TEXT NOT NULL CHECK (role IN ('sender', 'auditor')),
    secret_hash TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
CREATE INDEX api_keys_sender ON api_keys (sender_id);

CREATE TABLE lists (
    id                  TEXT PRIMARY KEY NOT NULL,
    sender_id           TEXT NOT NULL REFERENCES senders (id),
    slug                TEXT NOT NULL,
    name                TEXT NOT NULL,
    policy_url          TEXT NOT NULL,
    locale              TEXT NOT NULL,
    consent_text_sha256 TEXT NOT NULL,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    UNIQUE (sender_id, slug)
);

-- Every wording a list ever had, content-addressed; old versions stay resolvable.
CREATE TABLE consent_texts (
    list_id    TEXT NOT NULL REFERENCES lists (id),
    sha256     TEXT NOT NULL,
    version    BIGINT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (list_id, sha256),
    UNIQUE (list_id, version)
);

-- One row per (sender, list, address key): the current state of the address on that list,
-- which is all a compliance check reads.
CREATE TABLE subscriptions (
    id                 TEXT PRIMARY KEY NOT NULL,
    sender_id          TEXT NOT NULL REFERENCES senders (id),
    list_id            TEXT NOT NULL REFERENCES lists (id),
    address_key        TEXT NOT NULL,
    abuse_key          TEXT NOT NULL,
    email              TEXT,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed', 'expired', 'refused')),
    current_consent_id TEXT NOT NULL,
    -- Copied from the current consent so a compliance check reads one row, no join.
    confirmed_at       TIMESTAMP,
    evidence_sha256    TEXT NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    UNIQUE (sender_id, list_id, address_key)
);
CREATE INDEX subscriptions_address ON subscriptions (sender_id, address_key);

-- One row per double opt-in attempt (a consent id); a re-signup after unsubscribe is a new row.
CREATE TABLE consents (
    id                  TEXT PRIMARY KEY NOT NULL,
    sender_id           TEXT NOT NULL REFERENCES senders (id),
    list_id             TEXT NOT NULL REFERENCES lists (id),
    subscription_id     TEXT NOT NULL REFERENCES subscriptions (id),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed', 'expired', 'refused')),
    locale              TEXT NOT NULL,
    consent_text_sha256 TEXT NOT NULL,
    collection_method   TEXT NOT NULL,
    source_url          TEXT,
    collected_at        TIMESTAMP,
    evidence_sha256     TEXT NOT NULL,
    -- Keyed hash of the end-user IP the sender claimed, for the per-IP signup cap.
    client_ip_key       TEXT,
    nonce               TEXT NOT NULL,
    mail_count          BIGINT NOT NULL DEFAULT 0,
    requested_at        TIMESTAMP NOT NULL,
    last_mailed_at      TIMESTAMP,
    confirmed_at        TIMESTAMP,
    ended_at            TIMESTAMP,
    expires_at          TIMESTAMP NOT NULL
);
CREATE INDEX consents_subscription ON consents (subscription_id);
CREATE INDEX consents_pending_expiry ON consents (status, expires_at);
CREATE INDEX consents_client_ip ON consents (sender_id, client_ip_key, requested_at);

-- Append-only ledger. Personal data lives in event_pii and enters the chain as pii_sha256.
CREATE TABLE events (
    id          TEXT PRIMARY KEY NOT NULL,
    sender_id   TEXT NOT NULL REFERENCES senders (id),
    seq         BIGINT NOT NULL,
    at          TIMESTAMP NOT NULL,
    kind        TEXT NOT NULL,
    consent_id  TEXT,
    list_slug   TEXT,
    subject_key TEXT,
    data        TEXT NOT NULL,
    pii_sha256  TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (sender_id, seq)
);
CREATE INDEX events_consent ON events (consent_id);
CREATE INDEX events_subject ON events (sender_id, subject_key);

CREATE TABLE event_pii (
    event_id   TEXT PRIMARY KEY NOT NULL REFERENCES events (id),
    email      TEXT,
    ip         TEXT,
    user_agent TEXT,
    note       TEXT,
    erased_at  TIMESTAMP
);

-- Per-sender chain head: appends lock this row so two writers never fork the chain.
CREATE TABLE chain_heads (
    sender_id  TEXT PRIMARY KEY NOT NULL REFERENCES senders (id),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE checkpoints (
    sender_id TEXT NOT NULL REFERENCES senders (id),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    at        TIMESTAMP NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (sender_id, seq)
);

-- Keyed hashes only. scope is a sender id, or 'global' for "this wasn't me" and erasures.
CREATE TABLE suppressions (
    scope       TEXT NOT NULL,
    address_key TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, address_key)
);

-- Durable work: confirmation mail and webhook deliveries, written in the same transaction
-- as the event that caused them.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('mail', 'webhook')),
    sender_id       TEXT NOT NULL REFERENCES senders (id),
    consent_id      TEXT,
    abuse_key       TEXT,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_abuse ON outbox (abuse_key, created_at);

CREATE TABLE idempotency_keys (
    sender_id       TEXT NOT NULL REFERENCES senders (id),
    key             TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    response_status BIGINT NOT NULL,
    response_body   TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (sender_id, key)
);

CREATE TABLE webhooks (
    sender_id  TEXT PRIMARY KEY NOT NULL REFERENCES senders (id),
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Generated secrets (development token key, pepper) and other server-wide values.
CREATE TABLE server_settings (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Bumped by every write that in-memory caches depend on (keys, lists); every instance polls
-- these counters so a revocation made by the CLI or another instance reaches all of them.
CREATE TABLE cache_epochs (
    name  TEXT PRIMARY KEY NOT NULL,
    epoch BIGINT NOT NULL
);
INSERT INTO cache_epochs (name, epoch) VALUES ('api_keys', 0), ('lists', 0);
