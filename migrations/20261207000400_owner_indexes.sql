-- An index led by the owner on the two user-owned tables that had none (docs/SCALING.md, "Keyed
-- by owner"): a device authorization approved by a user, and a storage share by who made it.
-- Deleting a user cascades to both, `db::storage_shares::mounts` looks shares up by their
-- maker, and a later move to an engine sharded by user finds every user's rows by an index.
create index device_authorization_user_idx on device_authorization (user_id) where user_id is not null;
create index storage_share_created_by_idx on storage_share (created_by);
