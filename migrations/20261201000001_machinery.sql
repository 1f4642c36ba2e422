-- The shared machinery: events in commit order, the host-operation journal and its locks,
-- versioned documents.

-- Events get two numbers. `id` is taken at insert (in insert order, which is not commit order:
-- a transaction that inserted first may commit last). `seq` is given after commit, by one
-- numbering transaction at a time (`events::number_pending`), in the order rows became visible;
-- readers read `seq > <cursor>` and never miss a row that committed late.
alter table event
    add column id bigint generated always as identity,
    add column seq bigint;
create unique index event_seq_key on event (seq);
create index event_unnumbered_idx on event (id) where seq is null;
create sequence event_seq_numbers as bigint;

-- Every piece of host work the runner does: recorded before the host is called, finished after.
-- A row still `running` past its lease belonged to a process that died.
create table host_op (
    op_id        text primary key,
    kind         text not null,
    -- What it works on (`container:<id>`, …): the keys it locks.
    keys         text[] not null,
    triggered_by text not null,
    state        text not null default 'running' check (state in ('running', 'done', 'failed')),
    reason       text,
    started_at   timestamptz not null default now(),
    finished_at  timestamptz
);
create index host_op_running_idx on host_op (started_at) where state = 'running';
create index host_op_keys_idx on host_op using gin (keys);

-- Who holds a resource's host work now, across replicas: one row per key, held by one operation
-- until it ends or its lease lapses (its process died).
create table host_lock (
    key    text primary key,
    op_id  text not null,
    until  timestamptz not null
);

-- Versioned documents (proxy permission documents, settings): one row per document, a version
-- that every write bumps by one, and the previous versions kept in `document_version`.
create table document (
    kind       text not null,
    owner_key  text not null,
    version    bigint not null check (version > 0),
    -- Null once deleted: the version goes on, so an If-Match from before the delete is stale.
    body       jsonb,
    updated_at timestamptz not null default now(),
    primary key (kind, owner_key)
);

create table document_version (
    kind       text not null,
    owner_key  text not null,
    version    bigint not null,
    body       jsonb,
    created_at timestamptz not null default now(),
    primary key (kind, owner_key, version)
);
