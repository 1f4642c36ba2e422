-- Forgot-password and resend-verification answer before any account is looked up: the request
-- records what was asked (the same statements for a known and an unknown address, so neither the
-- answer nor its timing tells them apart), and the mail worker does the rest: find the account,
-- make the link, queue the mail. Rows live until the worker takes them.
create table mail_request (
    request_id  bigint generated always as identity primary key,
    kind        text not null constraint mail_request_kind_check check (kind in ('reset', 'verify')),
    email       text not null,
    created_at  timestamptz not null default now()
);
