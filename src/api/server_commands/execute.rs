//! Running a command of the catalogue on a server you rent. Everything is checked before
//! anything is stored or run: the command (exactly one of `command_id` and `command_slug`), its
//! parameters against its schema, the timeout against its `max_timeout`. A command that
//! `requires_confirmation` first answers `awaiting_confirmation` with a single-use token (5
//! minutes, bound to the caller, the server, the command and the rendered argv) and runs
//! nothing; the token sent back is consumed by one conditional `UPDATE` in the transaction that
//! starts the run, so concurrent uses run it once. The cooldown and the hourly and daily limits
//! are counted in that transaction, under a lock per user, server and command.

use std::time::Duration;

use axum::extract::State;
use chrono::Utc;

use super::{
    dto::{CommandRunOut, ExecuteCommandIn},
    params::{self, Rendered},
    rented,
    runner::{self, Job, GRACE},
};
use crate::{
    auth::{permissions::leaf, principal::Principal, secrets},
    db::{
        new_id,
        server_commands::{self, CommandRow, NewConfirmation, NewLog},
        ts,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{Json, Path},
    state::AppState,
};

/// The command the request names; 422 naming the field when it names none, both, or one that
/// is not in the catalogue.
async fn command_of(st: &AppState, input: &ExecuteCommandIn) -> Result<CommandRow> {
    let id = input.command_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let slug = input.command_slug.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (field, id, slug) = match (id, slug) {
        (None, None) => {
            return Err(ApiError::validation(vec![
                FieldError::new("command_id", "one of command_id or command_slug is required"),
                FieldError::new("command_slug", "one of command_id or command_slug is required"),
            ]))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("command_slug", "give command_id or command_slug, not both"));
        }
        (Some(id), None) if crate::db::is_id(id) => ("command_id", Some(id), None),
        (Some(_), None) => {
            return Err(ApiError::invalid("command_id", "must be a command id (24 hexadecimal characters)"))
        }
        (None, Some(slug)) if slug.len() <= 63 => ("command_slug", None, Some(slug)),
        (None, Some(_)) => return Err(ApiError::invalid("command_slug", "no such command")),
    };
    server_commands::find(&st.db, id, slug)
        .await?
        .ok_or_else(|| ApiError::invalid(field, "no such command: the available commands lists the ones you can run"))
}

/// The timeout in seconds: 1 to the command's `max_timeout`, its `default_timeout` when absent.
fn timeout_of(input: &ExecuteCommandIn, cmd: &CommandRow) -> std::result::Result<i32, FieldError> {
    let Some(v) = input.timeout.as_ref().filter(|v| !v.is_null()) else { return Ok(cmd.default_timeout) };
    let secs = v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e9).map(|f| f as i64));
    match secs {
        Some(s) if (1..=i64::from(cmd.max_timeout)).contains(&s) => Ok(s as i32),
        Some(s) if s > i64::from(cmd.max_timeout) && s <= 7200 => Err(FieldError::new(
            "timeout",
            format!("must not exceed this command's max_timeout of {} seconds", cmd.max_timeout),
        )),
        _ => {
            Err(FieldError::new("timeout", format!("must be a whole number of seconds from 1 to {}", cmd.max_timeout)))
        }
    }
}

fn invalid_confirmation() -> ApiError {
    ApiError::precondition(
        "invalid_confirmation_token",
        "confirmation_token is not valid: it is unknown, expired or already used, or was issued for another \
         command, server or parameters; send the request without it for a new one",
    )
}

/// Execute server command
///
/// Runs one of the server's available commands (by `command_id` or `command_slug`) with its
/// `parameters`, as an argument vector on the server (never through a shell). With `wait`
/// (the default) the answer has the exit code and output, unless the command runs longer than
/// this request may last: then, as with `wait: false`, the answer is `running` and the run
/// continues. A command that `requires_confirmation` answers `awaiting_confirmation` with a
/// `confirmation_token` first and runs only when the same request comes back with it (once,
/// within 5 minutes). A command's cooldown and rate limits answer 429 with `Retry-After`.
/// A `user` member of the pool a server is rented for runs its low- and medium-risk commands
/// only (403 `pool_access_denied`); its renter and the pool's owner and admins run all.
#[utoipa::path(post, path = "/servers/{serverId}/execute-command", tag = "serverCommands",
    security(("bearer" = [])),
    params(("serverId" = String, Path, description = "Server ID to execute command on", pattern = "^[0-9a-f]{24}$")),
    request_body = ExecuteCommandIn,
    responses((status = 200, body = Envelope<CommandRunOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.actions.exec"))))]
#[tracing::instrument(skip_all, fields(user_id = %me.user.user_id))]
pub async fn execute_command(
    State(st): State<AppState>,
    me: Principal,
    Path(server_id): Path<String>,
    Json(input): Json<ExecuteCommandIn>,
) -> Result<ApiOk<CommandRunOut>> {
    me.require(leaf::CONTAINERS_ACTIONS_EXEC)?;
    let r = rented(&st, &me, &server_id).await?;
    let cmd = command_of(&st, &input).await?;
    if r.pool_user_only && matches!(cmd.risk_level.as_str(), "high" | "critical") {
        return Err(crate::api::pools::role_too_low(
            "admin in the pool the server is rented for, to run a high-risk command",
        ));
    }
    let rendered = params::render(&st.db, &cmd, input.parameters.as_ref()).await;
    let timeout = timeout_of(&input, &cmd);
    let token = input.confirmation_token.as_deref();
    let (rendered, timeout) = match (rendered, timeout) {
        (Ok(p), Ok(t)) => (p, t),
        (Err(ApiError::Validation { mut fields, .. }), Err(t)) => {
            fields.push(t);
            return Err(ApiError::validation(fields));
        }
        (Err(e), _) => return Err(e),
        (_, Err(t)) => return Err(ApiError::validation(vec![t])),
    };
    if !cmd.requires_confirmation && token.is_some() {
        return Err(ApiError::invalid("confirmation_token", "this command runs without a confirmation"));
    }
    let user = me.user.user_id.as_str();
    let server = r.server.server_id.as_str();
    if cmd.requires_confirmation && token.is_none() {
        return confirm_first(&st, user, server, &cmd, &rendered, timeout).await;
    }
    let log_id = start(&st, user, server, &cmd, &rendered, timeout, token).await?;
    let job = Job { log_id: log_id.clone(), server: r.server, argv: rendered.argv, timeout_secs: timeout as u64 };
    let task = tokio::spawn(runner::run(st.clone(), job));
    if input.wait == Some(false) {
        tokio::spawn(async move {
            match task.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "a command run without waiting failed"),
                Err(e) => tracing::error!(error = %e, "a command run panicked"),
                Ok(Ok(_)) => {}
            }
        });
        return running(&st, &log_id).await;
    }
    // Answer before this request's own deadline: past it the run goes on and the answer says so.
    let budget = (Duration::from_secs(timeout as u64) + GRACE + Duration::from_secs(20))
        .min(st.cfg.request_timeout.saturating_sub(Duration::from_secs(2)));
    match tokio::time::timeout(budget, task).await {
        Ok(Ok(Ok(row))) => {
            let msg = if row.status == "completed" { "Command completed" } else { "Command finished" };
            Ok(ApiOk::new(msg, CommandRunOut::from(row)))
        }
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(e)) => Err(ApiError::Internal(anyhow::anyhow!("the command run panicked: {e}"))),
        Err(_) => running(&st, &log_id).await,
    }
}

/// The run as it stands, answered while it goes on.
async fn running(st: &AppState, log_id: &str) -> Result<ApiOk<CommandRunOut>> {
    let row = server_commands::log(&st.db, log_id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("command log {log_id} vanished")))?;
    Ok(ApiOk::new("Command is running", CommandRunOut::from(row)))
}

/// The first request of a command that needs a confirmation: a run awaiting it and its token.
async fn confirm_first(
    st: &AppState,
    user: &str,
    server: &str,
    cmd: &CommandRow,
    rendered: &Rendered,
    timeout: i32,
) -> Result<ApiOk<CommandRunOut>> {
    let token = secrets::random_token();
    let log_id = new_id();
    let mut tx = st.db.begin().await?;
    server_commands::expire_unconfirmed(&mut *tx, user).await?;
    let log = NewLog {
        command_log_id: &log_id,
        command_id: &cmd.command_id,
        server_id: server,
        user_id: user,
        parameters: &rendered.parameters,
        argv: &rendered.argv,
        timeout_seconds: timeout,
        status: "awaiting_confirmation",
    };
    server_commands::insert_log(&mut *tx, &log).await?;
    let hash = secrets::sha256(&token);
    let argv_hash = rendered.hash(&cmd.command_id);
    let c = NewConfirmation {
        token_hash: &hash,
        command_log_id: &log_id,
        user_id: user,
        server_id: server,
        command_id: &cmd.command_id,
        argv_hash: &argv_hash,
    };
    let expires_at = server_commands::insert_confirmation(&mut *tx, &c).await?;
    tx.commit().await?;
    let out = CommandRunOut {
        command_log_id: log_id,
        command_id: cmd.command_id.clone(),
        status: "awaiting_confirmation".into(),
        output: None,
        exit_code: None,
        execution_time: None,
        start_time: None,
        end_time: None,
        output_truncated: false,
        confirmation_token: Some(token),
        confirmation_expires_at: Some(ts(expires_at)),
    };
    let msg = format!(
        "{} is a {}-risk command: send the same request with this confirmation_token within 5 minutes to run it",
        cmd.name, cmd.risk_level
    );
    Ok(ApiOk::new(msg, out))
}

/// Seconds until `at`, at least 1.
fn secs_until(at: Option<chrono::DateTime<Utc>>) -> u64 {
    at.map_or(1, |t| (t - Utc::now()).num_seconds().max(1) as u64)
}

/// Commit a run as `running` (a confirmed one: its awaiting row, the token consumed); its log id.
async fn start(
    st: &AppState,
    user: &str,
    server: &str,
    cmd: &CommandRow,
    rendered: &Rendered,
    timeout: i32,
    token: Option<&str>,
) -> Result<String> {
    let mut tx = st.db.begin().await?;
    server_commands::lock_runs(&mut tx, user, server, &cmd.command_id).await?;
    let confirmed = match token {
        Some(t) => {
            let hash = secrets::sha256(t);
            let argv_hash = rendered.hash(&cmd.command_id);
            let id = server_commands::consume_confirmation(&mut tx, &hash, user, server, &cmd.command_id, &argv_hash)
                .await?
                .ok_or_else(invalid_confirmation)?;
            Some(id)
        }
        None => None,
    };
    // Refused here, the transaction rolls back: a confirmation is not spent on a refusal.
    let recent = server_commands::recent(&mut tx, user, server, &cmd.command_id).await?;
    if let (Some(cool), Some(last)) = (cmd.cooldown_seconds, recent.last_start) {
        let free_at = last + chrono::Duration::seconds(i64::from(cool));
        if free_at > Utc::now() {
            return Err(ApiError::RateLimited { retry_after_secs: secs_until(Some(free_at)) });
        }
    }
    if cmd.rate_limit_per_hour.is_some_and(|n| recent.last_hour >= i64::from(n)) {
        return Err(ApiError::RateLimited { retry_after_secs: secs_until(recent.hour_frees_at) });
    }
    if cmd.rate_limit_per_day.is_some_and(|n| recent.last_day >= i64::from(n)) {
        return Err(ApiError::RateLimited { retry_after_secs: secs_until(recent.day_frees_at) });
    }
    let log_id = match confirmed {
        Some(id) => {
            if !server_commands::start_confirmed(&mut tx, &id, timeout).await? {
                return Err(invalid_confirmation());
            }
            id
        }
        None => {
            let id = new_id();
            let log = NewLog {
                command_log_id: &id,
                command_id: &cmd.command_id,
                server_id: server,
                user_id: user,
                parameters: &rendered.parameters,
                argv: &rendered.argv,
                timeout_seconds: timeout,
                status: "running",
            };
            server_commands::insert_log(&mut *tx, &log).await?;
            id
        }
    };
    server_commands::count_execution(&mut tx, &cmd.command_id).await?;
    tx.commit().await?;
    Ok(log_id)
}
