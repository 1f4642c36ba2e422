-- The proxy permission file each container's instance was last given
-- (`/etc/hoody/proxy/permissions.json`): the versions of the container's document and of its
-- project's that it was made from. The reconciler writes the file again when a document moved
-- on since (or the instance lost the file).
create table proxy_file (
    container_id      text primary key references container (container_id) on delete cascade,
    container_version bigint not null,
    project_version   bigint not null,
    written_at        timestamptz not null default now()
);

