//! The catalogue as a server's renter sees it.

use axum::extract::State;

use super::{
    dto::{CommandServerInfoOut, ServerCommandOut, ServerCommandsOut, ServerCommandsQuery},
    rented,
};
use crate::{
    auth::{permissions::leaf, principal::Principal},
    db::server_commands,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{Path, Query},
    state::AppState,
};

/// `risk_level` as the most risk to list (1 low … 4 critical).
fn risk_rank(level: &str) -> Option<i16> {
    match level {
        "low" => Some(1),
        "medium" => Some(2),
        "high" => Some(3),
        "critical" => Some(4),
        _ => None,
    }
}

/// The filters, checked: each bad one is named (422), nothing is looked up.
fn filters(q: ServerCommandsQuery) -> Result<(Option<String>, Option<i16>)> {
    let mut errors = Vec::new();
    let category = q.category.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    if category.as_ref().is_some_and(|c| c.chars().count() > 50 || c.chars().any(char::is_control)) {
        errors.push(FieldError::new("category", "must be at most 50 characters without control characters"));
    }
    let rank = match q.risk_level.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(level) => {
            let rank = risk_rank(level);
            if rank.is_none() {
                errors.push(FieldError::new("risk_level", "must be one of low, medium, high, critical"));
            }
            rank
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok((category, rank))
}

/// Get available commands
///
/// The predefined commands you can run on a server you rent (the only ones
/// `execute-command` runs), filtered by `category` and by the most risk you accept
/// (`risk_level=medium` lists low and medium), with the server's state.
#[utoipa::path(get, path = "/servers/{serverId}/available-commands", tag = "serverCommands",
    security(("bearer" = [])),
    params(("serverId" = String, Path, description = "Server ID to get available commands for",
        pattern = "^[0-9a-f]{24}$"), ServerCommandsQuery),
    responses((status = 200, body = Envelope<ServerCommandsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
#[tracing::instrument(skip_all, fields(user_id = %me.user.user_id))]
pub async fn list_available_commands(
    State(st): State<AppState>,
    me: Principal,
    Path(server_id): Path<String>,
    Query(q): Query<ServerCommandsQuery>,
) -> Result<ApiOk<ServerCommandsOut>> {
    me.require(leaf::FINANCIAL_SERVER_RENTAL_VIEW_MARKETPLACE)?;
    let (category, rank) = filters(q)?;
    let r = rented(&st, &me, &server_id).await?;
    let commands = server_commands::list(&st.db, category.as_deref(), rank).await?;
    let server_info = CommandServerInfoOut {
        id: r.server.server_id,
        name: r.server.name,
        is_ready: r.server.is_enabled,
        rental_status: r.rental_status,
    };
    let out = ServerCommandsOut { commands: commands.into_iter().map(ServerCommandOut::from).collect(), server_info };
    Ok(ApiOk::new("Available commands", out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_levels_are_ordered() {
        let ranks: Vec<_> = ["low", "medium", "high", "critical"].iter().map(|l| risk_rank(l)).collect();
        assert_eq!(ranks, [Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(risk_rank("LOW"), None);
        assert_eq!(risk_rank("extreme"), None);
    }
}
