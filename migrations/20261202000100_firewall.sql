-- A container's firewall: its rules in each direction (the source of truth), and where they are
-- applied on its host. A firewalled container's `eth0` sits on a bridge of its own (`network`,
-- with `subnet` allocated from HOODY_FIREWALL_SUBNETS) whose LXD network ACL (same name) holds
-- the enabled and disabled rules; the bridge defaults to allow in both directions, so an empty
-- rule list changes nothing. `version` grows with every change; `applied_version` is the one
-- the host is known to hold (the reconciler re-applies rows where they differ, and rows whose
-- ACL the host lost). Rows go with their container.
create table container_firewall (
    container_id    text primary key references container (container_id) on delete cascade,
    ingress         jsonb not null default '[]',
    egress          jsonb not null default '[]',
    rule_count      integer not null default 0,
    network         text,
    subnet          text,
    version         bigint not null default 1,
    applied_version bigint not null default 0,
    updated_at      timestamptz not null default now(),
    constraint container_firewall_rules_are_arrays
        check (jsonb_typeof(ingress) = 'array' and jsonb_typeof(egress) = 'array'),
    constraint container_firewall_rule_count
        check (rule_count = jsonb_array_length(ingress) + jsonb_array_length(egress))
);
