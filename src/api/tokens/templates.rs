//! `GET /auth/tokens/templates`: the five permission templates (`TEMPLATES` in
//! `auth::policy`, the table the README shows), each with its whole resolved tree.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::{
        permissions::{self, PermTree, Permissions},
        principal::Principal,
    },
    envelope::{ApiOk, Envelope},
    error::ErrorBody,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateOut {
    /// What `permission_template` takes when creating a token.
    pub name: &'static str,
    pub description: &'static str,
    /// Every leaf, true where the template grants it.
    #[schema(value_type = Permissions)]
    pub permissions: PermTree,
}

fn describe(name: &str) -> &'static str {
    match name {
        "full_access" => "Everything but administration: containers, projects, money, every resource",
        "external_customer" => "See and start, stop or restart containers, read their logs and the events",
        "dev_team" => "Build and run containers and projects, SSH keys, storage, networking; no money",
        "finance_team" => "Wallet, billing and server rental, with read access to projects and containers",
        "read_only" => "Read containers, projects, logs, balances, invoices, events and realms",
        _ => "",
    }
}

/// List permission templates
///
/// The templates `permission_template` accepts, each with its fully resolved permission tree.
/// No template grants an `admin.*` leaf.
#[utoipa::path(get, path = "/auth/tokens/templates", tag = "authTokens", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<TemplateOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_permission_templates(_me: Principal) -> ApiOk<Vec<TemplateOut>> {
    let out = permissions::TEMPLATES
        .iter()
        .map(|(name, _)| TemplateOut {
            name,
            description: describe(name),
            permissions: PermTree(permissions::template(name).unwrap_or_default()),
        })
        .collect();
    ApiOk::new("Permission templates", out)
}
