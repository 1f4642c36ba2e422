-- Storage shares: a directory of a source container mounted (an LXD disk device) on one target
-- container or on every container of a target project.
create table storage_share (
    share_id            text primary key,
    source_container_id text not null references container (container_id) on delete cascade,
    source_path         text not null,
    target_container_id text references container (container_id) on delete cascade,
    target_project_id   text references project (project_id) on delete cascade,
    mode                text not null check (mode in ('readonly', 'readwrite')),
    alias               text,
    label               text,
    description         text,
    enabled             boolean not null default true,
    status              text not null default 'active' check (status in ('active', 'failed')),
    status_message      text,
    expires_at          timestamptz,
    -- The expiry sweeper recorded its `storage.share.expired` event.
    expiry_notified     boolean not null default false,
    created_by          text not null references app_user (user_id) on delete cascade,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint storage_share_one_target check ((target_container_id is null) <> (target_project_id is null))
);
create index storage_share_source on storage_share (source_container_id);
create index storage_share_target_container on storage_share (target_container_id);
create index storage_share_target_project on storage_share (target_project_id);
create index storage_share_expiry on storage_share (expires_at) where expires_at is not null and not expiry_notified;

-- The receiving container's choice (accepted by default: no row).
create table storage_share_override (
    override_id  text primary key,
    share_id     text not null references storage_share (share_id) on delete cascade,
    container_id text not null references container (container_id) on delete cascade,
    mount        boolean not null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    constraint storage_share_override_once unique (share_id, container_id)
);
create index storage_share_override_container on storage_share_override (container_id);

-- The disk devices put on target instances. No foreign key to the share: a row outlives its
-- share (deleted, or gone with its source container) until the device is removed from the host.
create table storage_share_device (
    container_id text not null references container (container_id) on delete cascade,
    share_id     text not null,
    device       text not null,
    source       text not null,
    readonly     boolean not null,
    mount_path   text not null,
    primary key (container_id, share_id)
);
create index storage_share_device_share on storage_share_device (share_id);
