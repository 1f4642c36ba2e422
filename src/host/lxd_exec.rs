//! Commands whose output we keep: `POST /1.0/instances/{name}/exec` with `record-output`, the
//! operation awaited in slices (each no longer than one operation wait, so an HTTPS request never
//! outlives its transport timeout), then the exit code from the operation's `metadata.return` and
//! the first bytes of stdout and stderr from the log files it names (`metadata.output`), read with a
//! `Range` request and deleted afterwards.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{lxd::Lxd, unix::Outgoing, ExecOutput, HostError};

/// What a command finds on its `PATH`.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Lxd {
    pub(super) async fn run_output(
        &self,
        name: &str,
        command: &[String],
        wait: Duration,
        max_output: usize,
    ) -> Result<ExecOutput, HostError> {
        let body = json!({
            "command": command,
            "environment": {"PATH": PATH},
            "wait-for-websocket": false,
            "interactive": false,
            "record-output": true,
        });
        let (v, _) = self.request(Method::POST, &format!("{}/exec", Self::instance(name)), Some(body), None).await?;
        let op =
            v["operation"].as_str().ok_or_else(|| HostError::Failed("exec answered without an operation".into()))?;
        let done = self.wait_for(op, wait).await?;
        let meta = &done["metadata"]["metadata"];
        let Some(code) = meta["return"].as_i64() else {
            // Failed before the command could start (no exit code): LXD's reason, logged only.
            let err = done["metadata"]["err"].as_str().unwrap_or("exec failed");
            return Err(HostError::Refused(err.to_owned()));
        };
        let mut out = ExecOutput { exit_code: i32::try_from(code).unwrap_or(-1), ..ExecOutput::default() };
        for (fd, buf, cut) in
            [("1", &mut out.stdout, &mut out.stdout_truncated), ("2", &mut out.stderr, &mut out.stderr_truncated)]
        {
            if let Some(url) = meta["output"][fd].as_str() {
                let (bytes, more) = self.head_of(url, max_output).await?;
                *buf = bytes;
                *cut = more;
                // Best effort: a log left behind goes with the instance.
                let _ = self.request(Method::DELETE, url, None, None).await;
            }
        }
        Ok(out)
    }

    /// Wait for operation `op` to end, at most `wait`; the finished operation (`Timeout` if it
    /// is still running then).
    async fn wait_for(&self, op: &str, wait: Duration) -> Result<Value, HostError> {
        let deadline = Instant::now() + wait;
        let slice = self.op_timeout().as_secs().max(1);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HostError::Timeout);
            }
            // Whole seconds, rounded up: LXD's `timeout` is in seconds.
            let secs = left.as_millis().div_ceil(1000).clamp(1, u128::from(slice));
            let (done, _) = match self.request(Method::GET, &format!("{op}/wait?timeout={secs}"), None, None).await {
                Ok(d) => d,
                Err(HostError::NotFound(_)) => {
                    return Err(HostError::Failed("the exec operation vanished before its result was read".into()))
                }
                Err(e) => return Err(e),
            };
            match done["metadata"]["status"].as_str() {
                Some("Running") | Some("Pending") => continue,
                // A command that could not start (not found…) ends as a Failure with its code.
                Some("Success") | Some("Failure") => return Ok(done),
                _ => {
                    let err = done["metadata"]["err"].as_str().unwrap_or("exec failed").to_owned();
                    return Err(HostError::Refused(err));
                }
            }
        }
    }

    /// The first `max` bytes of a log file, and whether there was more.
    async fn head_of(&self, url: &str, max: usize) -> Result<(Vec<u8>, bool), HostError> {
        let out = Outgoing {
            method: Method::GET,
            path: url,
            body: None,
            content_type: "application/json",
            // One byte past the cap tells whether there was more.
            headers: vec![("range", format!("bytes=0-{max}"))],
            max_reply: max + 4096,
        };
        let reply = self.send(out).await?;
        match reply.status {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT => {
                let mut body = reply.body.to_vec();
                let more = body.len() > max;
                body.truncate(max);
                Ok((body, more))
            }
            // An empty file: a range past its end.
            StatusCode::RANGE_NOT_SATISFIABLE => Ok((Vec::new(), false)),
            StatusCode::NOT_FOUND => Ok((Vec::new(), false)),
            s => Err(HostError::Failed(format!("{s} reading an exec log"))),
        }
    }
}
