-- TOTP second factor: the encrypted secret, the last accepted step (replay protection),
-- argon2id-hashed backup codes, single-use login challenges (temp_token) and security events.

create table user_totp (
    user_id             text primary key references app_user on delete cascade,
    -- nonce || XChaCha20-Poly1305 ciphertext, AAD bound to the user.
    secret_enc          bytea not null,
    -- Null while the setup is not confirmed.
    enabled_at          timestamptz,
    -- Only a strictly later 30 s step is accepted: `update … where last_step < $step`.
    last_step           bigint not null default 0,
    require_for_tokens  boolean not null default true,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
create trigger user_totp_updated_at before update on user_totp
    for each row execute function set_updated_at();

create table backup_code (
    backup_code_id  bigint generated always as identity primary key,
    user_id         text not null references app_user on delete cascade,
    code_hash       text not null,
    used_at         timestamptz,
    created_at      timestamptz not null default now()
);
create index backup_code_user_idx on backup_code (user_id) where used_at is null;

-- The `temp_token` of a login waiting for its second factor: 5 minutes, 5 wrong codes, one use.
create table login_challenge (
    challenge_hash  bytea primary key,
    user_id         text not null references app_user on delete cascade,
    expires_at      timestamptz not null,
    attempts        integer not null default 0,
    used_at         timestamptz,
    created_at      timestamptz not null default now()
);
create index login_challenge_user_idx on login_challenge (user_id);

-- What the notifications and events namespaces will show: 2FA changes, backup code use.
create table security_event (
    security_event_id  bigint generated always as identity primary key,
    user_id            text not null references app_user on delete cascade,
    kind               text not null,
    ip                 text,
    user_agent         text,
    created_at         timestamptz not null default now()
);
create index security_event_user_idx on security_event (user_id, created_at desc);
