-- Server rental: what the marketplace shows of a server, rentals, offers (machines to order)
-- and reservations (an order, paid at once, delivered when an operator registers its server).

-- A server is in the marketplace when `listed` (and enabled, priced, not free, not rented).
alter table server
    add column listed              boolean not null default false,
    add column model               text,
    add column is_vm               boolean not null default false,
    add column category            text check (category in ('compute', 'memory', 'storage', 'general', 'gpu')),
    add column featured            boolean not null default false,
    add column popularity_rank     integer,
    add column setup_time_minutes  integer check (setup_time_minutes >= 0),
    add column setup_fee_cents     bigint not null default 0 check (setup_fee_cents >= 0),
    add column hold_days           integer not null default 0 check (hold_days >= 0),
    add column cpu_model           text,
    add column cpu_threads         integer check (cpu_threads >= 0),
    add column cpu_score           integer check (cpu_score >= 0),
    add column cpu_score_type      text check (cpu_score_type in ('passmark', 'geekbench_single', 'geekbench_multi')),
    add column ram_type            text check (ram_type in ('DDR3', 'DDR4', 'DDR5', 'ECC DDR4', 'ECC DDR5')),
    add column ram_speed_mhz       integer check (ram_speed_mhz >= 0),
    -- [{count, capacity_gb, type: HDD|SSD|NVMe|SAS, interface?, model?}]
    add column disks               jsonb not null default '[]' check (jsonb_typeof(disks) = 'array'),
    add column bandwidth_mbps      integer check (bandwidth_mbps >= 0),
    add column traffic_tb          integer check (traffic_tb >= 0),
    add column traffic_unlimited   boolean not null default false,
    add column ipv4_count          integer not null default 1 check (ipv4_count >= 0),
    add column ipv6_enabled        boolean not null default false,
    -- containers the server takes (its capacity as the rental shows it)
    add column max_containers      integer not null default 50 check (max_containers >= 0);

-- A user's (or a pool's) rental of a whole server. One active rental per server, by index: two
-- renters racing for one server cannot both win.
create table rental (
    rental_id        text primary key,
    user_id          text not null references app_user on delete restrict,
    server_id        text not null references server on delete restrict,
    pool_id          text,
    rental_start     timestamptz not null default now(),
    rental_end       timestamptz not null,
    hold_days        integer not null default 0,
    status           text not null default 'active' check (status in ('active', 'expired', 'cancelled')),
    -- the price of the rental's days so far (the setup fee apart), and everything paid
    amount_cents     bigint not null check (amount_cents >= 0),
    setup_fee_cents  bigint not null default 0 check (setup_fee_cents >= 0),
    total_paid_cents bigint not null check (total_paid_cents >= 0),
    -- the prices an extension pays: the server's at the time of renting
    renewal_pricing_frozen jsonb not null,
    txn_id           text references ledger_txn,
    reservation_id   text,
    -- `server.rental_expiring` was written for the current end (an extension clears it)
    expiring_noted   boolean not null default false,
    ended_at         timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    check (rental_end > rental_start)
);
create unique index rental_active_server on rental (server_id) where status = 'active';
create index rental_user on rental (user_id, created_at desc);
create index rental_due on rental (rental_end) where status = 'active';

-- Machines to order, kept by operators (`hoody-api offers add|list|remove`).
create table server_offer (
    offer_id          text primary key,
    name              text not null unique,
    country           text not null,
    region            text,
    city              text,
    datacenter        text,
    cpu_model         text,
    cpu_cores         integer check (cpu_cores >= 0),
    cpu_threads       integer check (cpu_threads >= 0),
    ram_gb            integer check (ram_gb >= 0),
    disks             jsonb not null default '[]' check (jsonb_typeof(disks) = 'array'),
    bandwidth_mbps    integer check (bandwidth_mbps >= 0),
    traffic_tb        integer check (traffic_tb >= 0),
    traffic_unlimited boolean not null default false,
    ipv4_count        integer not null default 1 check (ipv4_count >= 0),
    price_per_day_cents bigint not null check (price_per_day_cents > 0),
    rental_days       integer[] not null check (cardinality(rental_days) > 0),
    hold_days         integer not null default 0 check (hold_days >= 0),
    setup_fee_cents   bigint not null default 0 check (setup_fee_cents >= 0),
    delivery_hours    integer not null check (delivery_hours between 1 and 720),
    setup_time_minutes integer not null default 0 check (setup_time_minutes >= 0),
    -- null: made to order; a number: that many left (never below zero)
    stock             integer check (stock >= 0),
    is_active         boolean not null default true,
    created_at        timestamptz not null default now()
);

create table reservation (
    reservation_id   text primary key,
    user_id          text not null references app_user on delete restrict,
    offer_id         text not null references server_offer on delete restrict,
    days             integer not null check (days > 0),
    state            text not null default 'pending' check (state in ('pending', 'fulfilled', 'refunded')),
    ready_by         timestamptz not null,
    delivery_hours_quoted     integer not null,
    setup_time_minutes_quoted integer not null,
    hold_days_quoted integer not null,
    rental_cents     bigint not null check (rental_cents >= 0),
    setup_fee_cents  bigint not null check (setup_fee_cents >= 0),
    total_paid_cents bigint not null check (total_paid_cents >= 0),
    offer_snapshot   jsonb not null,
    pool_id          text,
    server_id        text references server on delete set null,
    rental_id        text references rental on delete set null,
    txn_id           text not null references ledger_txn,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create index reservation_user on reservation (user_id, created_at desc);
alter table rental add constraint rental_reservation foreign key (reservation_id) references reservation on delete set null;
