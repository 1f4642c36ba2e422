-- Draining: a server that takes no new containers (`hoody-api servers drain`) while what runs
-- there stays; null when it takes them. Unlike `is_enabled = false`, containers there still
-- start and change as usual: only placements stop.
alter table server add column draining_since timestamptz;
