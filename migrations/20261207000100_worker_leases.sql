-- Background work done once per cluster: a replica holds a named lease (`reconcile:<server id>`,
-- `janitor`, …) until `until`, renewing it each time it does the work; a replica that dies
-- loses it when it lapses, and another takes it over. Times are the database's (`now()`), so
-- replicas' clocks never disagree about them.
create table worker_lease (
    name text primary key,
    holder text not null,
    until timestamptz not null,
    taken_at timestamptz not null default now()
);
