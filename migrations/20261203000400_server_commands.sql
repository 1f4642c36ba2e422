-- Server commands: a catalogue of predefined commands a renter may run on the server they rent
-- (`crate::api::server_commands`), the log of every run, and the single-use confirmations that
-- high-risk commands need first.

-- A command is an argv template: an element that is exactly `{name}` becomes the value of the
-- parameter `name`, as one argv element (never through a shell). `parameter_schema` types each
-- parameter: {"name": {"type": "string"|"integer"|"boolean", "pattern"?, "enum"?, "min"?, "max"?,
-- "required"?, "default"?, "description"?}}.
create table server_command (
    command_id            text primary key,
    slug                  text not null constraint server_command_slug_key unique
                          check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name                  text not null check (length(name) between 1 and 100),
    description           text,
    category              text,
    risk_level            text not null check (risk_level in ('low', 'medium', 'high', 'critical')),
    -- 1 low … 4 critical: `?risk_level=` filters by the most risk a caller accepts
    risk_rank             smallint generated always as (case risk_level when 'low' then 1 when 'medium' then 2
                              when 'high' then 3 else 4 end) stored,
    requires_confirmation boolean not null default false,
    argv                  text[] not null check (cardinality(argv) > 0),
    parameter_schema      jsonb not null default '{}' check (jsonb_typeof(parameter_schema) = 'object'),
    example_parameters    jsonb check (jsonb_typeof(example_parameters) = 'object'),
    -- seconds
    default_timeout       integer not null check (default_timeout between 1 and 7200),
    max_timeout           integer not null check (max_timeout between 1 and 7200),
    cooldown_seconds      integer check (cooldown_seconds > 0),
    rate_limit_per_hour   integer check (rate_limit_per_hour > 0),
    rate_limit_per_day    integer check (rate_limit_per_day > 0),
    is_enabled            boolean not null default true,
    created_by            text references app_user on delete set null,
    execution_count       bigint not null default 0,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    check (default_timeout <= max_timeout),
    -- high and critical commands always wait for a confirmation
    check (requires_confirmation or risk_level in ('low', 'medium'))
);
create trigger server_command_updated_at before update of slug, name, description, category, risk_level,
    requires_confirmation, argv, parameter_schema, example_parameters, default_timeout, max_timeout,
    cooldown_seconds, rate_limit_per_hour, rate_limit_per_day, is_enabled on server_command
    for each row execute function set_updated_at();

-- One row per execution asked for: `awaiting_confirmation` until its confirmation token comes back
-- (`expired` when it never does), `running` while it runs, then `completed` (exit code 0),
-- `failed` (another exit code, or the host failed: `error`) or `timed_out`.
create table server_command_log (
    command_log_id    text primary key,
    command_id        text not null references server_command on delete restrict,
    server_id         text not null references server on delete cascade,
    user_id           text not null references app_user on delete cascade,
    parameters        jsonb not null,
    argv              text[] not null,
    -- seconds
    timeout_seconds   integer not null check (timeout_seconds between 1 and 7200),
    status            text not null check (status in ('awaiting_confirmation', 'expired', 'running', 'completed',
                          'failed', 'timed_out')),
    -- each kept to 64 KiB (`output_truncated` says when more was printed)
    stdout            text,
    stderr            text,
    output_truncated  boolean not null default false,
    exit_code         integer,
    -- our reason when the host failed (host_unavailable, host_failed…), never the host's words
    error             text,
    start_time        timestamptz,
    end_time          timestamptz,
    -- milliseconds
    execution_time_ms bigint check (execution_time_ms >= 0),
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create index server_command_log_recent on server_command_log (user_id, server_id, command_id, start_time desc);
create index server_command_log_server on server_command_log (server_id, created_at desc);
create trigger server_command_log_updated_at before update on server_command_log
    for each row execute function set_updated_at();

-- A high-risk command's confirmation: the token (stored as SHA-256 only) is single-use, lives
-- 5 minutes and is bound to its user, server, command and rendered argv (the parameters).
create table server_command_confirmation (
    token_hash     bytea primary key,
    command_log_id text not null constraint server_command_confirmation_log_key unique
                   references server_command_log on delete cascade,
    user_id        text not null references app_user on delete cascade,
    server_id      text not null references server on delete cascade,
    command_id     text not null references server_command on delete cascade,
    argv_hash      bytea not null,
    expires_at     timestamptz not null,
    used_at        timestamptz,
    created_at     timestamptz not null default now()
);
create index server_command_confirmation_open on server_command_confirmation (user_id, expires_at)
    where used_at is null;

-- The seeded catalogue: safe observations of the host (its root file system, /run and /proc are
-- mounted read-only at /host, /host/run and /host/proc in the server's command helper) and one
-- high-risk action.
insert into server_command (command_id, slug, name, description, category, risk_level, requires_confirmation,
                            argv, parameter_schema, example_parameters, default_timeout, max_timeout)
select encode(substring(uuid_send(gen_random_uuid()) from 1 for 6)
              || substring(uuid_send(gen_random_uuid()) from 11 for 6), 'hex'),
       s.slug, s.name, s.description, s.category, s.risk_level, s.requires_confirmation, s.argv,
       s.parameter_schema::jsonb, s.example_parameters::jsonb, s.default_timeout, s.max_timeout
  from (values
    ('uptime', 'Uptime',
     'Seconds since the server booted and seconds its CPUs spent idle (the server''s /proc/uptime).',
     'system', 'low', false, array['cat', '/host/proc/uptime'], '{}', '{}', 10, 60),
    ('disk-usage', 'Disk usage',
     'Size, used and available space in KiB of the file system holding a path of the server '
     || '(the server''s root is /host).',
     'storage', 'low', false, array['df', '-k', '-P', '{path}'],
     '{"path": {"type": "string", "enum": ["/host", "/host/boot", "/host/home", "/host/srv", "/host/tmp", '
     || '"/host/var", "/host/var/lib/lxd"], "default": "/host", '
     || '"description": "A mount point of the server (/host is its root file system)"}}',
     '{"path": "/host"}', 10, 60),
    ('memory', 'Memory',
     'Memory and swap, total, free and in use, in KiB (the server''s /proc/meminfo).',
     'system', 'low', false, array['cat', '/host/proc/meminfo'], '{}', '{}', 10, 60),
    ('restart-service', 'Restart a service',
     'Restart a systemd service of the server.',
     'services', 'high', true,
     array['chroot', '/host', 'env', 'SYSTEMD_IGNORE_CHROOT=1', 'systemctl', 'restart', '--', '{service}'],
     '{"service": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9@._-]{0,63}$", "required": true, '
     || '"description": "The unit name, e.g. nginx or nginx.service"}}',
     '{"service": "nginx"}', 60, 300)
  ) as s(slug, name, description, category, risk_level, requires_confirmation, argv, parameter_schema,
         example_parameters, default_timeout, max_timeout);
