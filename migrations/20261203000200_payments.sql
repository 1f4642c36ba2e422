-- Top-ups through a payment provider. An intent is made before the provider is called (so a
-- caller's key is taken once) and is credited only by the provider's verified webhook, once:
-- each webhook event is recorded by id, the intent moves to `completed` once, and its ledger
-- movement carries the key `intent:<id>`.
create table payment_intent (
    intent_id     text primary key,
    user_id       text not null references app_user on delete restrict,
    provider      text not null check (provider in ('stripe', 'nowpayments')),
    -- checkout: a hosted page; payment: a saved payment method charged directly
    flow          text not null check (flow in ('checkout', 'payment')),
    status        text not null default 'creating'
                  check (status in ('creating', 'pending', 'processing', 'completed', 'failed', 'expired', 'cancelled', 'admin_review')),
    amount_cents  bigint not null check (amount_cents > 0),
    currency      text not null default 'USD',
    -- the provider's object: a Checkout Session (cs_…) or a PaymentIntent (pi_…)
    provider_ref  text,
    -- the provider's payment behind it (pi_…: a checkout's is known once it is paid), which
    -- refunds and disputes name; and how much of it was taken back
    provider_payment text,
    reversed_cents bigint not null default 0 check (reversed_cents >= 0),
    redirect_url  text,
    reason        text not null default '',
    payment_method_id text,
    idem_key      text,
    request_hash  bytea,
    txn_id        text references ledger_txn,
    failure       text,
    -- the first answer, given again byte for byte to a repeat with the key
    answer        jsonb,
    credited_at   timestamptz,
    expires_at    timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint payment_intent_idem unique (user_id, provider, idem_key)
);
create index payment_intent_user on payment_intent (user_id, provider, created_at desc);
create unique index payment_intent_ref on payment_intent (provider, provider_ref) where provider_ref is not null;
create index payment_intent_payment on payment_intent (provider, provider_payment) where provider_payment is not null;

create table webhook_event (
    provider    text not null,
    event_id    text not null,
    event_type  text not null,
    received_at timestamptz not null default now(),
    primary key (provider, event_id)
);

-- Each user's customer at Stripe, made by the server (never taken from a request): cards are
-- attached to it when saved, and charged only with it.
create table stripe_customer (
    user_id     text primary key references app_user on delete cascade,
    customer_id text not null unique,
    created_at  timestamptz not null default now()
);

-- A card saved with Stripe belongs to one account.
create unique index payment_method_stripe on payment_method ((details ->> 'stripe_payment_method'))
    where details ? 'stripe_payment_method';
