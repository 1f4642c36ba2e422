-- The user vault: values per account and realm ('' is the global scope), each key's current
-- value in `vault_entry` and its previous versions in `vault_version` (the last ten versions in
-- all are kept). Values and metadata are sealed (XChaCha20-Poly1305 with the server's secret
-- key, whose id is `key_id`; the associated data binds user, realm, key, version and field), so
-- the database never holds them in clear. `size_bytes` is the plaintext size (value + metadata
-- as JSON): what counts against the account's vault limit.
create table vault_entry (
    user_id      text not null references app_user (user_id) on delete cascade,
    realm_id     text not null check (realm_id = '' or realm_id ~ '^[0-9a-f]{24}$'),
    key          text not null check (key ~ '^[A-Za-z0-9._-]+$' and length(key) <= 256),
    version      bigint not null check (version >= 1),
    size_bytes   bigint not null check (size_bytes >= 0),
    key_id       text not null,
    value_enc    bytea not null,
    metadata_enc bytea,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (user_id, realm_id, key)
);

create table vault_version (
    user_id      text not null,
    realm_id     text not null,
    key          text not null,
    version      bigint not null check (version >= 1),
    size_bytes   bigint not null check (size_bytes >= 0),
    key_id       text not null,
    value_enc    bytea not null,
    metadata_enc bytea,
    -- When this version was written (its `updated_at` while it was current).
    written_at   timestamptz not null,
    primary key (user_id, realm_id, key, version),
    -- Deleting a key (or clearing the vault) deletes its history too.
    foreign key (user_id, realm_id, key) references vault_entry on delete cascade
);
