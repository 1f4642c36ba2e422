-- The popup hand-off: a single-use launch ticket starts an OAuth sign-in in a new window; the
-- per-attempt state_id binds the state to a `__Host-` cookie and comes back in the fragment.
create table launch_ticket (
    ticket_hash     bytea primary key,
    provider        text not null,
    code_challenge  text not null,
    state_id        text not null,
    expires_at      timestamptz not null,
    used_at         timestamptz,
    created_at      timestamptz not null default now()
);

alter table oauth_state add column state_id text;
