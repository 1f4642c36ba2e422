-- Identity core: users, one-time email tokens, refresh-token families, login history,
-- Postgres-held rate limits, the durable mail outbox and the servers registry's first columns.

create function set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end $$;

create table app_user (
    user_id                 text primary key,
    username                text not null,
    email                   text not null,
    password_hash           text,
    alias                   text,
    public_key              text,
    metadata                jsonb not null default '{}',
    is_admin                boolean not null default false,
    is_banned               boolean not null default false,
    email_verified          boolean not null default false,
    email_verified_at       timestamptz,
    avatar_url              text,
    signup_method           text not null default 'email',
    region                  text,
    -- Logout-all bumps this; every JWT carries the generation it was issued under.
    session_generation      bigint not null default 0,
    tokens_revoked_at       timestamptz,
    free_tier_unlocked      boolean not null default false,
    free_tier_unlocked_at   timestamptz,
    free_tier_unlock_source text,
    onboarding              jsonb not null default '{}',
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    constraint app_user_username_key unique (username),
    constraint app_user_email_key unique (email)
);
create trigger app_user_updated_at before update on app_user
    for each row execute function set_updated_at();

-- Verification and reset tokens: only their SHA-256 is stored; consumed with
-- `update … where used_at is null returning`.
create table email_token (
    token_hash  bytea primary key,
    user_id     text not null references app_user on delete cascade,
    purpose     text not null check (purpose in ('verify_email', 'reset_password')),
    expires_at  timestamptz not null,
    used_at     timestamptz,
    created_at  timestamptz not null default now()
);
create index email_token_user_purpose_idx on email_token (user_id, purpose) where used_at is null;

-- Refresh tokens rotate: each is used once; replaying a used one revokes its family.
create table refresh_token (
    jti         text primary key,
    user_id     text not null references app_user on delete cascade,
    family      text not null,
    expires_at  timestamptz not null,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz not null default now()
);
create index refresh_token_family_idx on refresh_token (family);
create index refresh_token_user_idx on refresh_token (user_id);

create table login_event (
    login_event_id  bigint generated always as identity primary key,
    user_id         text not null references app_user on delete cascade,
    ip              text not null,
    user_agent      text,
    created_at      timestamptz not null default now()
);
create index login_event_user_idx on login_event (user_id, created_at desc);

-- Fixed-window counters shared by every replica.
create table rate_limit (
    bucket        text primary key,
    window_start  timestamptz not null,
    hits          integer not null
);

-- Mail is written here in the request's transaction and delivered by a background worker.
create table mail_outbox (
    mail_id          bigint generated always as identity primary key,
    recipient        text not null,
    subject          text not null,
    body_text        text not null,
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    sent_at          timestamptz,
    last_error       text,
    failed_at        timestamptz,
    created_at       timestamptz not null default now()
);
create index mail_outbox_pending_idx on mail_outbox (next_attempt_at) where sent_at is null and failed_at is null;

-- Hosts known to the control plane; the containers issue adds the LXD endpoint and pricing.
create table server (
    server_id   text primary key,
    name        text not null,
    region      text not null,
    country     text,
    city        text,
    datacenter  text,
    is_enabled  boolean not null default true,
    is_free     boolean not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint server_name_key unique (name)
);
create trigger server_updated_at before update on server
    for each row execute function set_updated_at();
