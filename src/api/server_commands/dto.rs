//! What the `serverCommands` routes send and take.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::db::{
    server_commands::{CommandRow, LogRow},
    ts,
};

/// A command of the catalogue, as `available-commands` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerCommandOut {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// Always `argv`: the command runs as an argument vector, never through a shell.
    pub mode: &'static str,
    /// The argv template for reading, joined with spaces; `{name}` stands for a parameter.
    pub command: Option<String>,
    /// Always null: commands run from `/` of the server's command helper.
    pub working_directory: Option<String>,
    /// `low`, `medium`, `high` or `critical`.
    pub risk_level: String,
    /// True: the first request answers a `confirmation_token` and runs nothing.
    pub requires_confirmation: bool,
    /// `{name: {type: string|integer|boolean, pattern?, enum?, min?, max?, required?, default?,
    /// description?}}`.
    #[schema(value_type = Option<Object>)]
    pub parameter_schema: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub example_parameters: Option<Value>,
    /// Seconds.
    pub default_timeout: i32,
    /// Seconds: the most `timeout` may ask for.
    pub max_timeout: i32,
    pub cooldown_seconds: Option<i32>,
    pub rate_limit_per_hour: Option<i32>,
    pub rate_limit_per_day: Option<i32>,
    pub created_by: Option<String>,
    pub execution_count: Option<i64>,
}

impl From<CommandRow> for ServerCommandOut {
    fn from(r: CommandRow) -> Self {
        Self {
            id: r.command_id,
            name: r.name,
            slug: r.slug,
            description: r.description,
            category: r.category,
            mode: "argv",
            command: Some(r.argv.join(" ")),
            working_directory: None,
            risk_level: r.risk_level,
            requires_confirmation: r.requires_confirmation,
            parameter_schema: Some(r.parameter_schema),
            example_parameters: r.example_parameters,
            default_timeout: r.default_timeout,
            max_timeout: r.max_timeout,
            cooldown_seconds: r.cooldown_seconds,
            rate_limit_per_hour: r.rate_limit_per_hour,
            rate_limit_per_day: r.rate_limit_per_day,
            created_by: r.created_by,
            execution_count: Some(r.execution_count),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandServerInfoOut {
    pub id: String,
    pub name: String,
    /// The server is enabled (commands can be sent to it).
    pub is_ready: bool,
    /// Your rental's status (`active`), or `none` for an administrator who does not rent it.
    pub rental_status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerCommandsOut {
    pub commands: Vec<ServerCommandOut>,
    pub server_info: CommandServerInfoOut,
}

/// The list's filters (checked strictly: 422 names the parameter).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServerCommandsQuery {
    /// Only this category (case-insensitive), e.g. `system`.
    pub category: Option<String>,
    /// The most risk to list: `low`, `medium`, `high` or `critical` (commands at or below it).
    pub risk_level: Option<String>,
}

/// Run a command of the catalogue: exactly one of `command_id` and `command_slug`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"command_slug": "disk-usage", "parameters": {"path": "/host/var"}, "wait": true, "timeout": 30}))]
pub struct ExecuteCommandIn {
    pub command_id: Option<String>,
    pub command_slug: Option<String>,
    /// Values for the command's parameters (see its `parameter_schema`).
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Wait for the end (default true); false answers at once with `running`.
    pub wait: Option<bool>,
    /// Seconds, 1 to the command's `max_timeout` (at most 7200); the command's
    /// `default_timeout` when absent. The command is killed when it runs longer.
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 7200)]
    pub timeout: Option<Value>,
    /// The token the first request of a command that `requires_confirmation` answered.
    pub confirmation_token: Option<String>,
}

impl std::fmt::Debug for ExecuteCommandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecuteCommandIn")
            .field("command_id", &self.command_id)
            .field("command_slug", &self.command_slug)
            .field("parameters", &self.parameters)
            .field("wait", &self.wait)
            .field("timeout", &self.timeout)
            .field("confirmation_token", &self.confirmation_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A run: `awaiting_confirmation`, `running`, `completed` (exit code 0), `failed` (another exit
/// code, or the host failed) or `timed_out`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandRunOut {
    pub command_log_id: String,
    pub command_id: String,
    pub status: String,
    /// What it printed: stdout, then stderr; each kept to 64 KiB.
    pub output: Option<String>,
    pub exit_code: Option<i32>,
    /// Milliseconds.
    pub execution_time: Option<i64>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Present when more output was printed than kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// Only with `awaiting_confirmation`: send it back as `confirmation_token` (once, within 5
    /// minutes, with the same command and parameters) to run the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_token: Option<String>,
    /// Only with `awaiting_confirmation`: when the token stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_expires_at: Option<String>,
}

/// stdout then stderr, as one text.
fn output_of(stdout: Option<&str>, stderr: Option<&str>) -> Option<String> {
    match (stdout.filter(|s| !s.is_empty()), stderr.filter(|s| !s.is_empty())) {
        (None, None) => stdout.or(stderr).map(str::to_owned),
        (Some(o), None) => Some(o.to_owned()),
        (None, Some(e)) => Some(e.to_owned()),
        (Some(o), Some(e)) if o.ends_with('\n') => Some(format!("{o}{e}")),
        (Some(o), Some(e)) => Some(format!("{o}\n{e}")),
    }
}

impl From<LogRow> for CommandRunOut {
    fn from(r: LogRow) -> Self {
        Self {
            output: output_of(r.stdout.as_deref(), r.stderr.as_deref()),
            command_log_id: r.command_log_id,
            command_id: r.command_id,
            status: r.status,
            exit_code: r.exit_code,
            execution_time: r.execution_time_ms,
            start_time: r.start_time.map(ts),
            end_time: r.end_time.map(ts),
            output_truncated: r.output_truncated,
            confirmation_token: None,
            confirmation_expires_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_stdout_then_stderr() {
        assert_eq!(output_of(None, None), None);
        assert_eq!(output_of(Some(""), Some("")), Some(String::new()));
        assert_eq!(output_of(Some("a\n"), Some("b")), Some("a\nb".into()));
        assert_eq!(output_of(Some("a"), Some("b")), Some("a\nb".into()));
        assert_eq!(output_of(Some(""), Some("b")), Some("b".into()));
    }
}
