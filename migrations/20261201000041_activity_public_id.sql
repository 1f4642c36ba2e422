-- Activity records get a public 24-hex id from 12 CSPRNG bytes, like every other id: the API no
-- longer shows the identity column, a global counter that told how many requests the platform
-- served. `id` stays as the internal order (newest first, ties by insertion).
--
-- The server writes the id (db::new_id) with each batch; the default covers older rows and any
-- other writer: bytes 0-5 and 10-15 of a v4 UUID are random (the version and variant bits are in
-- 6-9). No unique index: 96 random bits do not collide at this table's size, and an index on a
-- random key would cost every batch write.
alter table activity_log add column activity_id text;
alter table activity_log alter column activity_id set default
    encode(substring(uuid_send(gen_random_uuid()) from 1 for 6) || substring(uuid_send(gen_random_uuid()) from 11 for 6), 'hex');
update activity_log set activity_id = default;
alter table activity_log alter column activity_id set not null;
