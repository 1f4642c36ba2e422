-- Proxy aliases: a name the edge proxy serves (`https://{alias}.{server}.<containers domain>/`) in
-- place of a container's kit host label. An alias belongs to its container (and goes with it);
-- its owner is the owner of the container's project. Names are unique across the platform.

create table proxy_alias (
    alias_id            text primary key,
    container_id        text not null references container (container_id) on delete cascade,
    alias               text not null,
    program             text not null,
    program_index       integer not null check (program_index between 1 and 65535),
    target_path         text,
    allow_path_override boolean not null default true,
    expires_at          timestamptz,
    enabled             boolean not null default true,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint proxy_alias_alias_key unique (alias)
);
create index proxy_alias_container_idx on proxy_alias (container_id, created_at);
create trigger proxy_alias_updated_at before update on proxy_alias
    for each row execute function set_updated_at();
