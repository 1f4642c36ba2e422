-- Projects, their permission rows, containers on hosts, their status history, snapshots'
-- metadata, and the events table every transition writes to.

create table project (
    project_id     text primary key,
    user_id        text not null references app_user (user_id) on delete cascade,
    alias          text not null,
    color          text not null,
    max_containers integer check (max_containers is null or max_containers >= 0),
    is_default     boolean not null default false,
    realm_ids      text[] not null default '{}',
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint project_alias_key unique (user_id, alias)
);
create unique index project_one_default on project (user_id) where is_default;
create trigger project_updated_at before update on project
    for each row execute function set_updated_at();

create table project_permission (
    permission_id text primary key,
    project_id    text not null references project (project_id) on delete cascade,
    user_id       text not null references app_user (user_id) on delete cascade,
    level         text not null check (level in ('read', 'edit', 'delete')),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint project_permission_user_key unique (project_id, user_id)
);
create index project_permission_user_idx on project_permission (user_id);
create trigger project_permission_updated_at before update on project_permission
    for each row execute function set_updated_at();

-- How many prespawned containers a host keeps at most.
alter table server add column prespawn_count integer not null default 2 check (prespawn_count >= 0);

create table container (
    container_id        text primary key,
    project_id          text not null references project (project_id),
    server_id           text references server (server_id) on delete set null,
    -- The LXD instance name on its host (`c-<container_id>`).
    lxd_name            text not null,
    name                text not null,
    color               text not null,
    container_image     text not null,
    status              text not null check (status in
        ('creating', 'running', 'paused', 'stopped', 'failed', 'deleted', 'copying', 'deleting', 'claiming')),
    status_changed_at   timestamptz not null default now(),
    ai                  boolean not null default true,
    hoody_kit           boolean not null default true,
    dev_kit             boolean not null default true,
    kvm                 boolean not null default false,
    autostart           boolean not null default true,
    ramdisk             boolean not null default true,
    ramdisk_scope       text not null default 'container' check (ramdisk_scope in ('container', 'project')),
    prespawn            boolean not null default false,
    is_default          boolean not null default false,
    environment_vars    jsonb not null default '{}',
    ssh_public_key      text,
    -- The key without its comment: one container per key.
    ssh_key             text generated always as (split_part(ssh_public_key, ' ', 1) || ' ' || split_part(ssh_public_key, ' ', 2)) stored,
    comment             text,
    source_container_id text,
    copy_firewall_rules boolean not null default false,
    copy_network_rules  boolean not null default false,
    realm_ids           text[] not null default '{}',
    -- Network proxy/blocking settings (no credentials) and the sealed proxy URL.
    network             jsonb,
    network_proxy_sealed bytea,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint container_name_key unique (project_id, name),
    constraint container_ssh_public_key_key unique (ssh_key),
    constraint container_lxd_name_key unique (server_id, lxd_name)
);
create index container_project_idx on container (project_id, created_at);
create index container_server_idx on container (server_id, status);
create trigger container_updated_at before update on container
    for each row execute function set_updated_at();

create table container_status_log (
    log_id          text primary key,
    container_id    text not null references container (container_id) on delete cascade,
    from_status     text,
    to_status       text not null,
    transition_time timestamptz not null default now(),
    duration_ms     bigint,
    triggered_by    text not null,
    metadata        jsonb
);
create index container_status_log_idx on container_status_log (container_id, transition_time);

-- What LXD does not keep about a snapshot: its alias and when it was last restored.
create table container_snapshot (
    container_id text not null references container (container_id) on delete cascade,
    name         text not null,
    alias        text,
    last_used_at timestamptz,
    primary key (container_id, name)
);

-- Every state change of a resource, for the events issue to serve and stream.
create table event (
    event_id      text primary key,
    user_id       text not null,
    event_type    text not null,
    resource_type text not null,
    resource_id   text not null,
    project_id    text,
    container_id  text,
    realm_ids     text[] not null default '{}',
    data          jsonb not null default '{}',
    created_at    timestamptz not null default now()
);
create index event_user_time_idx on event (user_id, created_at desc);

-- The free tier: whether the default project and container are set up, and why not.
alter table app_user
    add column setup_state text not null default 'pending' check (setup_state in ('pending', 'done', 'failed')),
    add column setup_error text;
