-- Container images: LXD images the operator published from a container or a snapshot
-- (`hoody-api images publish`), the public catalogue (`is_public`), the images each user holds
-- (imported free or bought), and one rating per user and image.

create table image (
    image_id          text primary key,
    -- The catalogue name (the contract's `alias`) and what the catalogue shows.
    alias             text not null check (length(alias) between 1 and 100),
    description       text not null default '' check (length(description) <= 2000),
    os                text not null check (length(os) between 1 and 50),
    release           text not null default '' check (length(release) <= 50),
    architecture      text not null check (length(architecture) between 1 and 20),
    variant           text check (length(variant) <= 50),
    serial            text not null default '',
    tags              text[] not null default '{}',
    size_bytes        bigint not null default 0 check (size_bytes >= 0),
    price_cents       bigint not null default 0 check (price_cents >= 0),
    prespawn          boolean not null default false,
    is_public         boolean not null default false,
    -- Where the LXD image lives and how containers are launched from it. The LXD alias is
    -- random (`hoody-image-<24 hex>`) and never shown, so only holders reach it.
    server_id         text references server (server_id) on delete set null,
    lxd_alias         text not null constraint image_lxd_alias_key unique,
    fingerprint       text not null,
    source_container  text,
    source_snapshot   text,
    icon              bytea,
    icon_content_type text,
    icon_etag         text,
    check ((icon is null) = (icon_content_type is null) and (icon is null) = (icon_etag is null)),
    -- Ratings kept exact: the average is rating_sum / rating_count.
    rating_sum        bigint not null default 0 check (rating_sum >= 0),
    rating_count      bigint not null default 0 check (rating_count >= 0),
    -- When it (last) entered the public catalogue.
    added_at          timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create index image_public_idx on image (added_at) where is_public;
create trigger image_updated_at before update on image
    for each row execute function set_updated_at();

-- The images a user may create containers from.
create table user_image (
    user_id          text not null references app_user (user_id) on delete cascade,
    image_id         text not null references image (image_id) on delete cascade,
    acquired_by      text not null check (acquired_by in ('import', 'purchase')),
    price_paid_cents bigint not null default 0 check (price_paid_cents >= 0),
    created_at       timestamptz not null default now(),
    primary key (user_id, image_id)
);

create table image_rating (
    image_id   text not null references image (image_id) on delete cascade,
    user_id    text not null references app_user (user_id) on delete cascade,
    rating     smallint not null check (rating between 0 and 5),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (image_id, user_id)
);
create index image_rating_user_idx on image_rating (user_id);
create trigger image_rating_updated_at before update on image_rating
    for each row execute function set_updated_at();
