//! The `firewall` tag: a container's ingress and egress rules, enforced by its host (an LXD
//! network ACL on a bridge of the container's own; `lifecycle::firewall`).

mod dto;
mod rules;

use utoipa_axum::{router::OpenApiRouter, routes};

use self::rules::*;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_egress_rule, remove_egress_rule, toggle_egress_rule))
        .routes(routes!(add_ingress_rule, remove_ingress_rule, toggle_ingress_rule))
        .routes(routes!(list_firewall_rules))
        .routes(routes!(reset_firewall))
}
