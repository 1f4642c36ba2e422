-- Every replica caches the principals it authenticated for a moment (auth::cache). A change to a
-- user (a ban, a logout-all, a new password, a profile field the user's answers show), to one of
-- its sessions, or to what a request is judged by on one of its tokens (disabled, changed,
-- deleted) notifies `principal_changed` with the user id, delivered when the change commits, so
-- every replica forgets that user at once. Token last-use writes do not notify.
create function notify_principal_changed() returns trigger language plpgsql as $$
begin
    perform pg_notify('principal_changed', case when tg_op = 'DELETE' then old.user_id else new.user_id end);
    return null;
end
$$;

create trigger app_user_principal_changed
    after update or delete on app_user for each row execute function notify_principal_changed();

create trigger user_session_principal_changed
    after update or delete on user_session for each row execute function notify_principal_changed();

create trigger auth_token_principal_changed
    after update of is_enabled, expires_at, permissions, realm_ids, allow_no_realm, ip_whitelist, vault_access,
        event_access, deny_reauthorization, alias, public_key, public_storage, user_id or delete
    on auth_token for each row execute function notify_principal_changed();
