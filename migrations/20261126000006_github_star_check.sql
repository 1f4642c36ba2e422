-- `intent=star_check` on GitHub sign-in: whether the account's GitHub user stars the project's
-- repository (the wallet's GitHub bonus reads this).
create table github_star_check (
    user_id           text primary key references app_user on delete cascade,
    github_user_id    text not null,
    repository        text not null,
    starred           boolean not null,
    checked_at        timestamptz not null default now()
);
