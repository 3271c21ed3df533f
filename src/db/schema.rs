// @generated-style diesel schema, kept by hand in step with migrations/sqlite (the reference
// backend) and migrations/postgres. Only portable SQL types appear here.

diesel::table! {
    senders (id) {
        id -> Text,
        name -> Text,
        legal_name -> Text,
        postal_address -> Text,
        contact -> Text,
        on_behalf_of -> Nullable<Text>,
        jurisdiction -> Text,
        retention_days -> BigInt,
        legal_hold -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        sender_id -> Text,
        role -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    lists (id) {
        id -> Text,
        sender_id -> Text,
        slug -> Text,
        name -> Text,
        policy_url -> Text,
        locale -> Text,
        consent_text_sha256 -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    consent_texts (list_id, sha256) {
        list_id -> Text,
        sha256 -> Text,
        version -> BigInt,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        sender_id -> Text,
        list_id -> Text,
        address_key -> Text,
        abuse_key -> Text,
        email -> Nullable<Text>,
        status -> Text,
        current_consent_id -> Text,
        confirmed_at -> Nullable<Timestamp>,
        evidence_sha256 -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    consents (id) {
        id -> Text,
        sender_id -> Text,
        list_id -> Text,
        subscription_id -> Text,
        status -> Text,
        locale -> Text,
        consent_text_sha256 -> Text,
        collection_method -> Text,
        source_url -> Nullable<Text>,
        collected_at -> Nullable<Timestamp>,
        evidence_sha256 -> Text,
        client_ip_key -> Nullable<Text>,
        nonce -> Text,
        mail_count -> BigInt,
        requested_at -> Timestamp,
        last_mailed_at -> Nullable<Timestamp>,
        confirmed_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
        minimised_at -> Nullable<Timestamp>,
        network_key -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        sender_id -> Text,
        seq -> BigInt,
        at -> Timestamp,
        kind -> Text,
        consent_id -> Nullable<Text>,
        list_slug -> Nullable<Text>,
        subject_key -> Nullable<Text>,
        data -> Text,
        pii_sha256 -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    event_pii (event_id) {
        event_id -> Text,
        email -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        note -> Nullable<Text>,
        erased_at -> Nullable<Timestamp>,
        salt -> Nullable<Text>,
    }
}

diesel::table! {
    chain_heads (sender_id) {
        sender_id -> Text,
        seq -> BigInt,
        hash -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    checkpoints (sender_id, seq) {
        sender_id -> Text,
        seq -> BigInt,
        hash -> Text,
        at -> Timestamp,
        key_id -> Text,
        signature -> Text,
    }
}

diesel::table! {
    suppressions (scope, address_key) {
        scope -> Text,
        address_key -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        sender_id -> Text,
        consent_id -> Nullable<Text>,
        abuse_key -> Nullable<Text>,
        payload -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        locked_by -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (sender_id, key) {
        sender_id -> Text,
        key -> Text,
        request_sha256 -> Text,
        response_status -> BigInt,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (sender_id) {
        sender_id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    server_settings (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    cache_epochs (name) {
        name -> Text,
        epoch -> BigInt,
    }
}

diesel::table! {
    complaints (id) {
        id -> Text,
        sender_id -> Text,
        consent_id -> Nullable<Text>,
        mail_kind -> Text,
        feedback_type -> Text,
        source -> Text,
        action -> Text,
        report_sha256 -> Text,
        received_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sent_mails (message_id) {
        message_id -> Text,
        sender_id -> Text,
        consent_id -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    sender_standing (sender_id) {
        sender_id -> Text,
        standing -> Text,
        probation_step -> Nullable<BigInt>,
        step_since -> Timestamp,
        reviewed_at -> Nullable<Timestamp>,
        set_by -> Text,
        reason -> Nullable<Text>,
        signals -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sender_activity (sender_id, hour) {
        sender_id -> Text,
        hour -> Timestamp,
        requested -> BigInt,
        queued -> BigInt,
        mailed -> BigInt,
        confirmed -> BigInt,
        refused -> BigInt,
        expired -> BigInt,
        unsubscribed -> BigInt,
        complaints -> BigInt,
        throttled -> BigInt,
        sends_checked -> BigInt,
    }
}

diesel::joinable!(api_keys -> senders (sender_id));
diesel::joinable!(lists -> senders (sender_id));
diesel::joinable!(consent_texts -> lists (list_id));
diesel::joinable!(consents -> subscriptions (subscription_id));
diesel::joinable!(event_pii -> events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    senders,
    api_keys,
    lists,
    consent_texts,
    subscriptions,
    consents,
    events,
    event_pii,
    chain_heads,
    checkpoints,
    suppressions,
    outbox,
    idempotency_keys,
    webhooks,
    server_settings,
    cache_epochs,
    complaints,
    sent_mails,
    sender_standing,
    sender_activity,
);
