//! One run on the host, after its log row was committed as `running`: the helper made ready,
//! the argv run there under `timeout -s KILL <seconds>` (so the command itself is killed when
//! its time is up, not just waited for), and the end recorded: `completed` (exit 0), `failed`
//! (another exit code, or the host failed: our reason in `error`) or `timed_out`. It runs in a
//! task of its own, so a client that hangs up (or asked `wait: false`) cannot cut it short. No
//! transaction is open across the host calls.

use std::time::Duration;

use tokio::time::Instant;

use super::helper;
use crate::{
    db::server_commands::{self, Finish, LogRow},
    error::{ApiError, Result},
    host::{ExecOutput, HostError},
    servers::ServerRow,
    state::AppState,
};

/// Kept of each of stdout and stderr.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Past the timeout, how long the host still has to report the killed command's end.
pub const GRACE: Duration = Duration::from_secs(5);

pub struct Job {
    pub log_id: String,
    pub server: ServerRow,
    pub argv: Vec<String>,
    pub timeout_secs: u64,
}

/// Our word for a host failure (the log's `error`), never the host's own.
fn reason(e: &HostError) -> &'static str {
    match e {
        HostError::Unavailable { .. } => "host_unavailable",
        HostError::Timeout => "host_timeout",
        HostError::NotFound(_) => "helper_missing",
        HostError::Refused(_) => "host_refused",
        HostError::Failed(_) => "host_failed",
    }
}

/// Output as text PostgreSQL can hold (no NUL).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "")
}

async fn fail(st: &AppState, id: &str, why: &str) -> Result<Option<LogRow>> {
    let f = Finish {
        status: "failed",
        stdout: None,
        stderr: None,
        output_truncated: false,
        exit_code: None,
        error: Some(why),
    };
    Ok(server_commands::finish(&st.db, id, &f).await?)
}

/// The status of a run that ended with `out` after `elapsed`.
fn status_of(out: &ExecOutput, elapsed: Duration, timeout: Duration) -> &'static str {
    // `timeout` exits 124 (coreutils) or 137 (busybox, SIGKILL) when it killed the command.
    let killed = matches!(out.exit_code, 124 | 137) && elapsed + Duration::from_millis(500) >= timeout;
    match out.exit_code {
        _ if killed => "timed_out",
        0 => "completed",
        _ => "failed",
    }
}

/// Run the job and record how it ended; the row then. A failure of the host (before or while
/// running) is recorded, then returned as our error.
pub async fn run(st: AppState, job: Job) -> Result<LogRow> {
    let host = match st.hosts.for_server(&job.server, &st.sealer) {
        Ok(h) => h,
        Err(e) => {
            fail(&st, &job.log_id, "host_unavailable").await?;
            return Err(e);
        }
    };
    let name = match helper::ensure(&host, &job.server.server_id, &st.cfg.default_image).await {
        Ok(n) => n,
        Err(e) => {
            fail(&st, &job.log_id, reason(&e)).await?;
            return Err(e.into());
        }
    };
    if !server_commands::mark_sent(&st.db, &job.log_id).await? {
        // Closed meanwhile (recorded as abandoned while its helper took long): not run at all.
        return server_commands::log(&st.db, &job.log_id)
            .await?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("command log {} vanished", job.log_id)));
    }
    let timeout = Duration::from_secs(job.timeout_secs);
    let mut argv = vec!["timeout".to_owned(), "-s".into(), "KILL".into(), job.timeout_secs.to_string()];
    argv.extend(job.argv.iter().cloned());
    let wait = timeout + GRACE;
    let started = Instant::now();
    // The logs are read after the end: a little more than the wait for the whole call.
    let res = host
        .call_within("exec_output", wait + Duration::from_secs(15), |d| d.exec_output(&name, &argv, wait, MAX_OUTPUT))
        .await;
    let elapsed = started.elapsed();
    let (stdout, stderr);
    let f = match &res {
        Ok(out) => {
            stdout = text(&out.stdout);
            stderr = text(&out.stderr);
            Finish {
                status: status_of(out, elapsed, timeout),
                stdout: Some(&stdout),
                stderr: Some(&stderr),
                output_truncated: out.stdout_truncated || out.stderr_truncated,
                exit_code: Some(out.exit_code),
                error: None,
            }
        }
        // Still running past its time and the grace: it is not ours to wait for any longer.
        Err(HostError::Timeout) => Finish {
            status: "timed_out",
            stdout: None,
            stderr: None,
            output_truncated: false,
            exit_code: None,
            error: Some("host_timeout"),
        },
        Err(e) => Finish {
            status: "failed",
            stdout: None,
            stderr: None,
            output_truncated: false,
            exit_code: None,
            error: Some(reason(e)),
        },
    };
    let row = server_commands::finish(&st.db, &job.log_id, &f).await?;
    match res {
        Err(e) if !matches!(e, HostError::Timeout) => Err(e.into()),
        _ => match row {
            Some(r) => Ok(r),
            None => server_commands::log(&st.db, &job.log_id)
                .await?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("command log {} vanished", job.log_id))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kill_at_the_timeout_is_a_timeout() {
        let out = |code| ExecOutput { exit_code: code, ..ExecOutput::default() };
        let t = Duration::from_secs(2);
        assert_eq!(status_of(&out(0), Duration::from_millis(10), t), "completed");
        assert_eq!(status_of(&out(1), Duration::from_millis(10), t), "failed");
        assert_eq!(status_of(&out(137), Duration::from_millis(2100), t), "timed_out");
        assert_eq!(status_of(&out(124), Duration::from_millis(2000), t), "timed_out");
        // Killed long before its time (out of memory): a failure, not a timeout.
        assert_eq!(status_of(&out(137), Duration::from_millis(100), t), "failed");
    }
}
