-- Every user-owned table with an index led by its owner (docs/SCALING.md, "Keyed by owner").
-- These had none, or one covering only some of their rows (partial: live sessions, unused
-- tokens, codes and confirmations), so deleting a user (which cascades into all of them) and a
-- later move to an engine sharded by user had to scan them: a device authorization approved by
-- a user, a storage share by who made it (`db::storage_shares::mounts` also looks them up so),
-- and all of a user's sessions, mail tokens, backup codes and command confirmations.
create index device_authorization_user_idx on device_authorization (user_id) where user_id is not null;
create index storage_share_created_by_idx on storage_share (created_by);
create index user_session_user_idx on user_session (user_id);
create index email_token_user_idx on email_token (user_id);
create index backup_code_all_user_idx on backup_code (user_id);
create index server_command_confirmation_user_idx on server_command_confirmation (user_id);
