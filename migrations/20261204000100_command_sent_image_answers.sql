-- When a run's command was sent to the host: null while the server's helper is still being made
-- ready (which may take minutes), so that the sweeper tells a run a stopped process left
-- `running` (sent, and well past its timeout; or never sent for an hour) from one still going.
alter table server_command_log add column sent_at timestamptz;
update server_command_log set sent_at = start_time where status not in ('awaiting_confirmation', 'expired');
create index server_command_log_running on server_command_log (start_time) where status = 'running';

-- An image purchase keeps the answer a repeat with its key gets. It was kept in cents; the
-- answer is the dollars the route shows (`price_paid`, `remaining_balance`), as now kept.
-- Only integers are cents (the dollars are written with a point: `5.0`), so a database that
-- already keeps dollars is left as it is; each field is converted on its own.
update ledger_txn
   set meta = jsonb_set(meta, '{answer,price_paid}',
                        to_jsonb(round((meta #>> '{answer,price_paid}')::numeric / 100, 2)))
 where kind = 'image_purchase' and meta #>> '{answer,price_paid}' ~ '^-?[0-9]+$';
update ledger_txn
   set meta = jsonb_set(meta, '{answer,remaining_balance}',
                        to_jsonb(round((meta #>> '{answer,remaining_balance}')::numeric / 100, 2)))
 where kind = 'image_purchase' and meta #>> '{answer,remaining_balance}' ~ '^-?[0-9]+$';
