-- Money: an append-only double-entry ledger in integer cents.
--
-- Every movement is one `ledger_txn` with postings that sum to zero (checked at commit by a
-- deferred trigger). A user's balance is the sum of the postings to their account; it is also
-- kept in `ledger_account.balance_cents`, which only the posting trigger changes, in the same
-- transaction as the posting, and which may never go below zero (a check constraint, so an
-- overdraft is refused by the database whatever the code does). Platform accounts (revenue,
-- fees, provider clearing, promotions) keep no balance column: their balance is the sum of their
-- postings, so they are never a hot row that every payment locks.

create table ledger_account (
    account_id    text primary key,
    -- null for the platform's own accounts
    user_id       text references app_user on delete restrict,
    kind          text not null check (kind in ('general', 'ai', 'revenue', 'fees', 'provider_clearing', 'promotions')),
    balance_cents bigint not null default 0,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint ledger_account_user_kind unique (user_id, kind),
    constraint ledger_account_user_kinds check ((user_id is null) = (kind not in ('general', 'ai'))),
    constraint ledger_account_no_negative check (balance_cents >= 0)
);

insert into ledger_account (account_id, kind) values
    ('platform_revenue', 'revenue'),
    ('platform_fees', 'fees'),
    ('platform_provider_clearing', 'provider_clearing'),
    ('platform_promotions', 'promotions');

create table ledger_txn (
    txn_id        text primary key,
    -- whose movement it is (who sees it in their transactions)
    user_id       text references app_user on delete restrict,
    kind          text not null check (kind in ('topup', 'transfer', 'rent', 'rent_extend', 'image_purchase',
                                                'bonus', 'credit', 'refund', 'reservation')),
    status        text not null default 'completed',
    -- what the user asked for, in cents (a transfer's gross; a payment's amount)
    amount_cents  bigint not null check (amount_cents > 0),
    reason        text not null default '',
    -- the caller's idempotency key (header or body) and the hash of the request it stands for
    idem_key      text,
    request_hash  bytea,
    meta          jsonb not null default '{}',
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint ledger_txn_idem unique (user_id, idem_key)
);
create index ledger_txn_user on ledger_txn (user_id, created_at desc);

create table ledger_posting (
    posting_id    bigserial primary key,
    txn_id        text not null references ledger_txn,
    account_id    text not null references ledger_account,
    amount_cents  bigint not null check (amount_cents <> 0),
    created_at    timestamptz not null default now()
);
create index ledger_posting_txn on ledger_posting (txn_id);
create index ledger_posting_account on ledger_posting (account_id, posting_id);

-- A user account's balance follows its postings, in the posting's own transaction.
create function ledger_posting_apply() returns trigger language plpgsql as $$
begin
    update ledger_account set balance_cents = balance_cents + new.amount_cents, updated_at = now()
     where account_id = new.account_id and user_id is not null;
    return new;
end $$;
create trigger ledger_posting_apply after insert on ledger_posting
    for each row execute function ledger_posting_apply();

-- Every transaction balances: checked when the database transaction commits.
create function ledger_txn_balanced() returns trigger language plpgsql as $$
declare
    total bigint;
begin
    select coalesce(sum(amount_cents), 0) into total from ledger_posting where txn_id = new.txn_id;
    if total <> 0 then
        raise exception 'ledger transaction % does not balance (%)', new.txn_id, total
            using errcode = '23514', constraint = 'ledger_txn_balanced';
    end if;
    return null;
end $$;
create constraint trigger ledger_txn_balanced after insert on ledger_posting
    deferrable initially deferred for each row execute function ledger_txn_balanced();

-- Append-only: postings are never changed or removed; a transaction's money and identity never
-- change (only its `status` and `meta`, the answer kept for a replay, may be written later).
create function ledger_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the ledger is append-only (% on %)', tg_op, tg_table_name using errcode = '42501';
end $$;
create trigger ledger_posting_append_only before update or delete on ledger_posting
    for each row execute function ledger_append_only();
create trigger ledger_txn_no_delete before delete on ledger_txn
    for each row execute function ledger_append_only();
create function ledger_txn_fixed() returns trigger language plpgsql as $$
begin
    if new.txn_id <> old.txn_id or new.user_id is distinct from old.user_id or new.kind <> old.kind
       or new.amount_cents <> old.amount_cents or new.idem_key is distinct from old.idem_key
       or new.request_hash is distinct from old.request_hash or new.created_at <> old.created_at then
        raise exception 'a ledger transaction''s amount and identity never change' using errcode = '42501';
    end if;
    return new;
end $$;
create trigger ledger_txn_fixed before update on ledger_txn
    for each row execute function ledger_txn_fixed();

-- Saved payment methods; one default per user.
create table payment_method (
    payment_method_id text primary key,
    user_id           text not null references app_user on delete cascade,
    type              text not null,
    name              text not null,
    status            text not null default 'active' check (status in ('active', 'inactive')),
    details           jsonb not null default '{}',
    is_default        boolean not null default false,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create index payment_method_user on payment_method (user_id, created_at);
create unique index payment_method_one_default on payment_method (user_id) where is_default;

-- One invoice per transaction, numbered per year with no gaps (the counter row is taken in the
-- invoice's own transaction, so a rollback gives its number back).
create table invoice_counter (
    year integer primary key,
    last integer not null
);

create table invoice (
    invoice_id      text primary key,
    user_id         text not null references app_user on delete restrict,
    txn_id          text not null references ledger_txn,
    invoice_number  text not null,
    status          text not null default 'paid',
    amount_cents    bigint not null,
    currency        text not null default 'USD',
    billing_details jsonb,
    items           jsonb,
    issue_date      timestamptz not null default now(),
    due_date        timestamptz not null default now(),
    paid_date       timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint invoice_one_per_txn unique (txn_id),
    constraint invoice_number_unique unique (invoice_number)
);
create index invoice_user on invoice (user_id, created_at desc);

-- The GitHub star bonus: once per account and once per GitHub identity.
create table github_bonus_claim (
    user_id        text primary key references app_user on delete restrict,
    github_user_id text not null,
    amount_cents   bigint not null,
    txn_id         text not null references ledger_txn,
    claimed_at     timestamptz not null default now(),
    constraint github_bonus_claim_identity unique (github_user_id)
);
