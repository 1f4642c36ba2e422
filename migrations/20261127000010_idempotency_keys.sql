-- Idempotency-Key (IETF httpapi draft) for the POSTs that create something: the first answer
-- to a key is kept and replayed to its repeats, so a retried create makes nothing twice.
create table idempotency_key (
    user_id text not null references app_user (user_id) on delete cascade,
    key text not null,
    -- SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint bytea not null,
    -- Null while the first request runs.
    status smallint,
    body bytea,
    created_at timestamptz not null default now(),
    primary key (user_id, key)
);
create index idempotency_key_created_at on idempotency_key (created_at);
