-- The account inbox: operators' notices (global, or targeted at some accounts; some also public,
-- shown without signing in) and the security signals the server raises for one account.
create table notification (
    notification_id text primary key,
    title           text not null check (length(title) between 1 and 200),
    message         text not null check (length(message) between 1 and 5000),
    type            text not null check (type in ('MAINTENANCE', 'ANNOUNCEMENT', 'STATUS_UPDATE')),
    severity        text not null check (severity in ('INFO', 'WARNING', 'ERROR', 'SUCCESS')),
    is_public       boolean not null default false,
    is_global       boolean not null default false,
    -- The accounts a targeted notification is for (null: global, for everyone).
    target_user_ids text[] check (target_user_ids is null or cardinality(target_user_ids) between 1 and 1000),
    -- A security signal's kind (`login.new_ip`, `token.new_ip`, `2fa.disabled`,
    -- `2fa.backup_codes_low`, `password.changed`); null for an operator's notice.
    signal          text,
    expires_at      timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    check (is_global = (target_user_ids is null))
);
create index notification_targets on notification using gin (target_user_ids);
create index notification_global on notification (created_at desc) where is_global;
create index notification_public on notification (created_at desc) where is_public;

-- Read state, per account: a global notice is read by each account on its own.
create table notification_read (
    notification_id text not null references notification on delete cascade,
    user_id         text not null references app_user (user_id) on delete cascade,
    read_at         timestamptz not null default now(),
    primary key (user_id, notification_id)
);

-- The addresses each auth token has been used from, so that a use from a new one is told to
-- its owner once (`token.new_ip`).
create table auth_token_ip (
    token_id   text not null references auth_token on delete cascade,
    ip         text not null,
    first_seen timestamptz not null default now(),
    primary key (token_id, ip)
);
-- A token in use already has an address: its next new one is news.
insert into auth_token_ip (token_id, ip, first_seen)
select token_id, last_used_ip, coalesce(last_used_at, now()) from auth_token where last_used_ip is not null;
