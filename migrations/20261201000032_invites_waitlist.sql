-- The free tier's invite gate (HOODY_FREE_TIER_INVITES=on): codes made by
-- `hoody-api invites create`, stored as SHA-256, each good for `max_uses` accounts.
create table invite_code (
    invite_id   text primary key,
    code_hash   bytea not null,
    max_uses    integer not null check (max_uses > 0),
    uses        integer not null default 0 check (uses >= 0 and uses <= max_uses),
    created_at  timestamptz not null default now(),
    constraint invite_code_code_hash_key unique (code_hash)
);

create table invite_redemption (
    invite_id   text not null references invite_code on delete cascade,
    user_id     text not null references app_user on delete cascade,
    created_at  timestamptz not null default now(),
    constraint invite_redemption_pkey primary key (invite_id, user_id)
);
create index invite_redemption_user_idx on invite_redemption (user_id);

-- The public waitlist: one row per address, enriched later by PATCH /waitlist.
create table waitlist (
    email                text primary key,
    interest             text,
    context              text,
    industry             text,
    role                 text,
    ip                   text,
    confirmation_sent_at timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
create trigger waitlist_updated_at before update on waitlist
    for each row execute function set_updated_at();
