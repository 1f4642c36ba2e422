-- Intent mode: a sign-in answered with an opaque single-use auth_intent_token, redeemed with the
-- PKCE code_verifier whose S256 challenge was given at sign-in (10 minutes at most).
create table auth_intent (
    intent_hash     bytea primary key,
    user_id         text not null references app_user on delete cascade,
    code_challenge  text not null,
    expires_at      timestamptz not null,
    used_at         timestamptz,
    created_at      timestamptz not null default now()
);
create index auth_intent_user_idx on auth_intent (user_id);

-- A login waiting for its second factor remembers how it must be answered.
alter table login_challenge add column code_challenge text;
