-- Who lost the use of a server through a pool (removed from the pool, or the pool deleted) while
-- it was rented for the pool: the rental sweeper stops their containers there (unless they may
-- use it again by then). Only these, never a container someone else placed on a server that
-- happens to be rented (an administrator's, say).
create table pool_use_ended (
    user_id   text not null references app_user (user_id) on delete cascade,
    server_id text not null references server (server_id) on delete cascade,
    ended_at  timestamptz not null default now(),
    primary key (user_id, server_id)
);
