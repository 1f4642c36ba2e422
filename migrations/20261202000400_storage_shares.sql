-- Storage shares: an LXD custom storage volume (`share-<share id>`) mounted at a directory of a
-- source container and on one target container or on every container of a target project. No
-- host path is ever mounted: LXD mounts the volume itself on both ends.
create table storage_share (
    share_id            text primary key,
    source_container_id text not null references container (container_id) on delete cascade,
    source_path         text not null,
    -- The storage pool of the share's volume (the source's root pool at create).
    pool                text not null,
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
-- One share per directory of a source (a second volume cannot be mounted at the same path).
create unique index storage_share_source_path on storage_share (source_container_id, source_path);
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

-- The disk devices put on instances: `hoody-share-<id>` on targets, `hoody-sharesrc-<id>` on the
-- source (at its `source_path`). No foreign key to the share: a row outlives its share (deleted,
-- or gone with its source container) until the device is removed from the host.
create table storage_share_device (
    container_id text not null references container (container_id) on delete cascade,
    share_id     text not null,
    device       text not null,
    pool         text not null,
    source       text not null,
    readonly     boolean not null,
    mount_path   text not null,
    primary key (container_id, share_id)
);
create index storage_share_device_share on storage_share_device (share_id);

-- The custom volumes made for shares. No foreign key to the share: a row outlives its share
-- (gone with its source container) until the volume is deleted from its host.
create table storage_share_volume (
    share_id   text primary key,
    server_id  text,
    pool       text not null,
    volume     text not null,
    -- Not deleted before then: a snapshot restore made it again for a device it brings back.
    keep_until timestamptz,
    created_at timestamptz not null default now()
);

-- Whether a user may still edit a project (its owner, or an `edit`/`delete` permission): a share
-- reaches its targets only while its creator may edit both ends.
create function storage_share_can_edit(p_project_id text, p_user_id text) returns boolean
language sql stable as $$
    select exists (select 1 from project p where p.project_id = p_project_id and p.user_id = p_user_id)
        or exists (select 1 from project_permission pp where pp.project_id = p_project_id
            and pp.user_id = p_user_id and pp.level in ('edit', 'delete'))
$$;

-- What should be mounted where: the source device of every active share whose source is settled, and
-- the target devices of every enabled, unexpired, active, accepted share on settled targets of
-- the source's host, while its creator may edit both ends. A target mounts at
-- `/mnt/shares/<alias>`, or at `/mnt/shares/<share id>` when it has no alias or an older share aimed
-- at that target holds the alias (in whatever state: a path never moves to another share).
create view storage_share_desired as
select src.container_id, s.share_id, true as is_source, false as readonly, s.source_path as mount_path,
    s.pool, 'share-' || s.share_id as volume, src.lxd_name
from storage_share s join container src on src.container_id = s.source_container_id
where s.status = 'active' and src.status in ('running', 'stopped', 'paused')
union all
select aimed.container_id, aimed.share_id, false, aimed.readonly,
    '/mnt/shares/' || case when aimed.alias is not null and aimed.alias_rank = 1 then aimed.alias else aimed.share_id end,
    aimed.pool, 'share-' || aimed.share_id, aimed.lxd_name
from (
    select t.container_id, s.share_id, (s.mode = 'readonly') as readonly, s.alias, s.pool, t.lxd_name,
        s.enabled, s.status, s.expires_at, s.created_by, s.source_container_id, t.project_id as target_project,
        t.status as target_status, t.server_id as target_server,
        row_number() over (partition by t.container_id, s.alias order by s.created_at, s.share_id) as alias_rank
    from storage_share s join container t on (t.container_id = s.target_container_id
            or t.project_id = s.target_project_id) and t.container_id <> s.source_container_id
) aimed join container src on src.container_id = aimed.source_container_id
where aimed.enabled and aimed.status = 'active' and (aimed.expires_at is null or aimed.expires_at > now())
    and aimed.target_status in ('running', 'stopped', 'paused') and src.status in ('running', 'stopped', 'paused')
    and src.server_id = target_server
    and not exists (select 1 from storage_share_override o where o.share_id = aimed.share_id
        and o.container_id = aimed.container_id and not o.mount)
    and storage_share_can_edit(src.project_id, aimed.created_by)
    and storage_share_can_edit(target_project, aimed.created_by);
