-- `hoody login --web`: device authorization with RFC 8628 semantics. The CLI holds the
-- device_code (stored as SHA-256) and polls; a person types the short user_code on the
-- verification page, whose steps are bound to a single-use ticket and a `__Host-` cookie (both
-- stored as SHA-256), signs in there and approves or denies. Tokens are minted once, at the poll.
create table device_authorization (
    device_id            text primary key,
    device_code_hash     bytea not null,
    user_code_hash       bytea not null,
    client_name          text,
    client               text,
    -- S256 PKCE challenge the CLI sent; the poll must then bring its verifier.
    code_challenge       text,
    status               text not null default 'pending'
                         check (status in ('pending', 'approved', 'denied', 'consumed', 'void')),
    user_id              text references app_user on delete cascade,
    -- The approver's session generation: a logout-all or password reset before the poll voids it.
    approved_generation  bigint,
    ticket_hash          bytea,
    cookie_hash          bytea,
    expires_at           timestamptz not null,
    last_polled_at       timestamptz,
    decided_at           timestamptz,
    created_at           timestamptz not null default now(),
    constraint device_authorization_device_code_key unique (device_code_hash)
);
-- One live row per user code (a collision at creation draws another code).
create unique index device_authorization_user_code_key on device_authorization (user_code_hash)
    where status = 'pending';
create index device_authorization_ticket_idx on device_authorization (ticket_hash) where ticket_hash is not null;
create index device_authorization_expires_idx on device_authorization (expires_at);

-- A 2FA step begun on the verification page approves its device instead of minting tokens.
alter table login_challenge add column device_id text references device_authorization on delete cascade;
-- An OAuth sign-in begun from the verification page (GET /auth/device/authorize) approves its device.
alter table oauth_state add column device_id text references device_authorization on delete cascade;
-- The client a sign-in came through (`cli` for the device flow), for the security history.
alter table login_event add column client text;
create index security_event_created_idx on security_event (created_at);
create index login_event_created_idx on login_event (created_at);

-- PKCE authorization codes for first-party apps (POST /auth/authorize → POST /auth/exchange):
-- one use, 60 seconds, bound to an allow-listed redirect_uri and the session generation.
create table auth_code (
    code_hash           bytea primary key,
    user_id             text not null references app_user on delete cascade,
    code_challenge      text not null,
    redirect_uri        text not null,
    session_generation  bigint not null,
    expires_at          timestamptz not null,
    used_at             timestamptz,
    created_at          timestamptz not null default now()
);
create index auth_code_user_idx on auth_code (user_id);
create index auth_code_expires_idx on auth_code (expires_at);
