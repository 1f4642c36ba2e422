-- The servers registry: specs, how to reach the host's LXD, and rental pricing.
alter table server
    add column cores               integer not null default 0,
    add column ram_mb              bigint not null default 0,
    add column disk_gb             bigint not null default 0,
    -- `unix:///var/lib/lxd/unix.socket` or `https://host:8443`.
    add column lxd_endpoint        text not null default 'unix:///var/lib/lxd/unix.socket',
    -- For HTTPS hosts: our client certificate (PEM), its key sealed with the server's secret key,
    -- the host's own certificate (the only one trusted for it) and its SHA-256 fingerprint (hex).
    add column client_cert         text,
    add column client_key_sealed   bytea,
    add column server_cert         text,
    add column server_fingerprint  text,
    add column price_per_day_cents bigint,
    add column rental_days         integer[] not null default '{}';
