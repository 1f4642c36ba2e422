//! The `serverCommands` tag: the catalogue of predefined commands and running one of them on a
//! server you rent. Commands run on the server through its LXD, inside the server's command
//! helper (`helper`), as an argv rendered from the command's template (`params`); every run is
//! kept in the command log (`runner`). High-risk commands run only once the single-use
//! confirmation token their first request answered comes back (`execute`).
//!
//! Access: the caller rents the server (an active, unexpired rental), or is an administrator
//! signed in with a session. A missing server is 404 `server_not_found`; one you do not rent 403
//! `server_not_rented` (servers are public: the marketplace lists them). Auth tokens need
//! `financial.server_rental.view_marketplace` to list (the leaf that reads your rentals) and
//! `containers.actions.exec` to run (the exec leaf: a finance or read-only token cannot run
//! commands).

mod dto;
mod execute;
mod helper;
mod list;
mod params;
mod runner;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::fields::path_id,
    auth::principal::Principal,
    db::{rentals, server_commands},
    error::{ApiError, Result},
    servers::ServerRow,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list::list_available_commands)).routes(routes!(execute::execute_command))
}

fn server_not_found() -> ApiError {
    ApiError::not_found("server_not_found", "Server not found")
}

/// A server the caller may run commands on, and their rental's status.
struct Rented {
    server: ServerRow,
    rental_status: String,
    /// The caller uses the server only as a `user` member of a pool it is rented for: the
    /// high-risk commands are not theirs to run (the renter and the pool's admins may).
    pool_user_only: bool,
}

/// The server named by the path: 404 when there is none (or the id is malformed), 403 when the
/// caller neither rents it nor is an administrator's session.
async fn rented(st: &AppState, me: &Principal, raw: &str) -> Result<Rented> {
    let id = path_id(raw, server_not_found)?;
    let server = crate::servers::by_id(&st.db, id).await?.ok_or_else(server_not_found)?;
    let user = &me.user.user_id;
    // Administrators' tokens are refused like on every admin route: only their sessions.
    let admin = me.user.is_admin && me.token().is_none();
    let right = rentals::right_on(&st.db, user, id).await?;
    if right.is_none() && !admin {
        return Err(ApiError::forbidden("server_not_rented", "You do not rent this server"));
    }
    let rental_status = server_commands::rental_status(&st.db, user, id).await?.unwrap_or_else(|| "none".into());
    let pool_user_only = right.as_deref() == Some("user") && !admin;
    Ok(Rented { server, rental_status, pool_user_only })
}
