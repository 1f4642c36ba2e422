-- Long-lived auth tokens: only SHA-256 of the secret is stored; looked up by it.
create table auth_token (
    token_id              text primary key,
    user_id               text not null references app_user on delete cascade,
    alias                 text not null,
    secret_hash           bytea not null,
    -- The first characters of the secret (`hdy_` + 8), to recognise a token in a list.
    prefix                text not null,
    public_key            text,
    public_storage        jsonb,
    -- Empty means every address ("*").
    ip_whitelist          text[] not null default '{}',
    realm_ids             text[] not null default '{}',
    allow_no_realm        boolean not null default true,
    -- The permission leaves it holds, as dotted paths (`containers.actions.start`).
    permissions           text[] not null,
    vault_access          boolean not null default false,
    event_access          boolean not null default true,
    deny_reauthorization  boolean not null default false,
    expires_at            timestamptz,
    is_enabled            boolean not null default true,
    -- The token that minted this one (null when a session did); kept after the parent is gone.
    created_by_token_id   text,
    delegation_depth      integer not null default 0,
    last_used_at          timestamptz,
    last_used_ip          text,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    constraint auth_token_secret_hash_key unique (secret_hash),
    constraint auth_token_public_key_key unique (public_key)
);
create index auth_token_user_idx on auth_token (user_id, created_at);
create index auth_token_parent_idx on auth_token (created_by_token_id) where created_by_token_id is not null;
create index auth_token_realms_idx on auth_token using gin (realm_ids);
create trigger auth_token_updated_at before update of alias, public_key, public_storage, ip_whitelist, realm_ids,
    allow_no_realm, permissions, vault_access, event_access, expires_at, is_enabled on auth_token
    for each row execute function set_updated_at();

-- Every authenticated request, written in batches (COPY) off the request path. Append-only and
-- cheap to write: a sequential key, one b-tree for reading a user's log and a BRIN index for
-- pruning by age. No foreign key (a check per row): deleting a user must delete its rows too.
create table activity_log (
    id            bigint generated always as identity primary key,
    user_id       text not null,
    token_id      text,
    realm_id      text,
    method        text not null,
    route         text,
    path          text not null,
    status_code   smallint not null,
    duration_ms   real not null,
    ip_address    text not null,
    user_agent    text,
    created_at    timestamptz not null
);
create index activity_log_user_idx on activity_log (user_id, created_at desc);
create index activity_log_created_brin on activity_log using brin (created_at);
