-- Account-wide limits come in two tiers: `free` (every new account) and `standard` (set by an
-- operator, or by the money issue once an account pays); administrators are not limited.
alter table app_user
    add column tier text not null default 'free' check (tier in ('free', 'standard'));
