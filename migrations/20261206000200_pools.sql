-- Pools: a group of users around servers rented for it. The owner and the pool's admins manage
-- its members; every accepted member may use the servers rented with the pool's id.

create table pool (
    pool_id     text primary key,
    owner_id    text not null references app_user (user_id) on delete cascade,
    name        text not null check (length(name) between 1 and 100),
    description text check (length(description) <= 1000),
    settings    jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
    -- Each account's own pool, made the first time it lists or creates pools; never deleted.
    is_default  boolean not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint pool_owner_name_key unique (owner_id, name)
);
create unique index pool_one_default on pool (owner_id) where is_default;
create trigger pool_updated_at before update on pool for each row execute function set_updated_at();

-- Members and invitations: one row per user and pool. The owner has a row (role `owner`, joined
-- when the pool was made); an invitation is a row not joined yet (`joined_at` null).
create table pool_member (
    member_id  text primary key,
    pool_id    text not null references pool on delete cascade,
    user_id    text not null references app_user (user_id) on delete cascade,
    role       text not null check (role in ('owner', 'admin', 'user')),
    invited_by text references app_user (user_id) on delete set null,
    invited_at timestamptz not null default now(),
    joined_at  timestamptz,
    constraint pool_member_user_key unique (pool_id, user_id),
    check (role <> 'owner' or joined_at is not null)
);
create unique index pool_member_one_owner on pool_member (pool_id) where role = 'owner';
create index pool_member_user on pool_member (user_id, pool_id);

-- A rental or an order made for a pool: a deleted pool leaves the rental its renter's alone.
alter table rental add constraint rental_pool foreign key (pool_id) references pool on delete set null;
alter table reservation add constraint reservation_pool foreign key (pool_id) references pool on delete set null;
create index rental_pool on rental (pool_id) where pool_id is not null;
