-- The warm pool: per server and image, how many started instances an operator wants kept ready
-- for creates to claim (`hoody-api servers update <name> --warm-pool <image>=<n>`), and the
-- instances themselves. A pool instance belongs to nobody: it is no container row (no list, count,
-- quota, event or activity sees it) until a create claims it; then its id becomes the container's
-- id and its row here goes. An instance never goes back to a pool.

create table warm_pool (
    server_id   text not null references server (server_id) on delete cascade,
    image       text not null,
    size        integer not null check (size > 0 and size <= 1000),
    -- Launches that failed in a row, and when the next refill may try again (backoff).
    failures    integer not null default 0,
    retry_at    timestamptz,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (server_id, image)
);
create trigger warm_pool_updated_at before update on warm_pool
    for each row execute function set_updated_at();

create table warm_instance (
    -- The id the container gets when it is claimed; the LXD instance is `c-<instance_id>`.
    instance_id      text primary key,
    server_id        text not null references server (server_id) on delete cascade,
    image            text not null,
    -- launching: being made and started; ready: running, claimable; removing: to be deleted
    -- from its host (a failed launch, a pool made smaller or removed, an instance gone wrong).
    state            text not null check (state in ('launching', 'ready', 'removing')),
    state_changed_at timestamptz not null default now(),
    created_at       timestamptz not null default now()
);
create index warm_instance_pool_idx on warm_instance (server_id, image, state, created_at);
