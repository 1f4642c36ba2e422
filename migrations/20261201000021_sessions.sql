-- Sessions: one row per sign-in (login, verify-email, 2FA verify, intent exchange, …). Its id is
-- the `sid` claim of every access and refresh JWT of that sign-in, and the `family` of its
-- refresh tokens. The per-request principal lookup checks `revoked_at` by primary key in the
-- same read as the user row, so revoking one session (or one refresh family, which is the same
-- thing) is refused on the next request. Logout-all still moves `app_user.session_generation`.
create table user_session (
    sid             text primary key,
    user_id         text not null references app_user on delete cascade,
    created_at      timestamptz not null default now(),
    -- The expiry of its newest refresh token: past it the session cannot be renewed.
    expires_at      timestamptz not null,
    revoked_at      timestamptz,
    -- logout | replay | second_factor_changed | password_changed | …
    revoked_reason  text
);
create index user_session_user_live_idx on user_session (user_id) where revoked_at is null;
create index user_session_expires_idx on user_session (expires_at);
create index refresh_token_expires_idx on refresh_token (expires_at);
