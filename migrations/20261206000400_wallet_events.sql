-- Every money movement of a user (top-up, transfer, rent, purchase, bonus, credit, refund,
-- reservation) writes its `wallet.transaction` event in the movement's own transaction: a
-- trigger on the ledger, so every path that records a movement emits it without one more round
-- trip, and a movement that rolls back (a 402, a replay) leaves none. The event carries what the
-- transactions list shows: id, kind, status, amount and reason.
create function ledger_txn_event() returns trigger language plpgsql as $$
begin
    insert into event (event_id, user_id, event_type, resource_type, resource_id, data)
    values (substr(replace(gen_random_uuid()::text, '-', ''), 1, 24), new.user_id, 'wallet.transaction',
            'wallet', new.txn_id,
            jsonb_build_object('transaction_id', new.txn_id, 'kind', new.kind, 'status', new.status,
                               'amount_cents', new.amount_cents, 'reason', new.reason));
    perform pg_notify('event_written', '');
    return null;
end
$$;

create trigger ledger_txn_event after insert on ledger_txn
    for each row when (new.user_id is not null) execute function ledger_txn_event();
