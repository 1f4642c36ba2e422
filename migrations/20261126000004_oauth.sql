-- OAuth sign-in: single-use states bound to the redirect target and the PKCE challenge, and the
-- provider identities linked to accounts.
create table oauth_state (
    state_hash      bytea primary key,
    provider        text not null,
    redirect_uri    text not null,
    code_challenge  text not null,
    intent          text not null default 'login',
    expires_at      timestamptz not null,
    used_at         timestamptz,
    created_at      timestamptz not null default now()
);

create table oauth_identity (
    provider          text not null,
    provider_user_id  text not null,
    user_id           text not null references app_user on delete cascade,
    login             text,
    created_at        timestamptz not null default now(),
    constraint oauth_identity_pkey primary key (provider, provider_user_id)
);
create index oauth_identity_user_idx on oauth_identity (user_id);
