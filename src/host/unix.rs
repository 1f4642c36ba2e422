//! HTTP/1.1 over a unix socket (LXD's local API), one connection per call.

use std::{path::Path, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    header::{HeaderValue, CONTENT_TYPE, HOST},
    Method, Request, StatusCode,
};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use super::HostError;

/// Replies larger than this are refused (a sane LXD reply is a few KB).
pub const MAX_REPLY: usize = 1024 * 1024;
/// The limit for listings with `recursion=1` (every instance, network or ACL of a host, each a
/// few KB): room for thousands.
pub const MAX_LIST_REPLY: usize = 64 * 1024 * 1024;

pub struct Reply {
    pub status: StatusCode,
    pub etag: Option<String>,
    /// `X-LXD-Type` (files API: `file`, `directory`, `symlink`).
    pub kind: Option<String>,
    pub body: Bytes,
}

/// One request to a host: JSON by default; files go as `application/octet-stream` with LXD's
/// `X-LXD-*` headers.
pub struct Outgoing<'a> {
    pub method: Method,
    pub path: &'a str,
    pub body: Option<Vec<u8>>,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    /// Replies larger than this are refused.
    pub max_reply: usize,
}

impl<'a> Outgoing<'a> {
    pub fn json(method: Method, path: &'a str, body: Option<Vec<u8>>, if_match: Option<&str>) -> Self {
        let headers = if_match.map(|t| vec![("if-match", t.to_owned())]).unwrap_or_default();
        Self { method, path, body, content_type: "application/json", headers, max_reply: MAX_REPLY }
    }
}

fn unavailable(reason: impl Into<String>) -> HostError {
    HostError::Unavailable { reason: reason.into(), retry_after_secs: 5 }
}

pub async fn send(socket: &Path, connect_timeout: Duration, out: Outgoing<'_>) -> Result<Reply, HostError> {
    let stream = tokio::time::timeout(connect_timeout, UnixStream::connect(socket))
        .await
        .map_err(|_| unavailable("connect timed out"))?
        .map_err(|e| unavailable(format!("connect: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unavailable(format!("handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let out_max = out.max_reply;
    let mut req = Request::builder().method(out.method).uri(out.path).header(HOST, "lxd");
    if out.body.is_some() {
        req = req.header(CONTENT_TYPE, out.content_type);
    }
    for (k, v) in &out.headers {
        req = req.header(*k, v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(out.body.unwrap_or_default())))
        .map_err(|e| HostError::Failed(format!("request: {e}")))?;
    // Once connected, the request may have reached the host: a reset, a hang-up or a reply that
    // is not HTTP is a failure (502: it may have been done), not "unavailable" (503: retry).
    let res = sender.send_request(req).await.map_err(|e| HostError::Failed(format!("send: {e}")))?;
    let status = res.status();
    let etag = res.headers().get("etag").and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
    let kind = res.headers().get("x-lxd-type").and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
    let body = Limited::new(res.into_body(), out_max)
        .collect()
        .await
        .map_err(|e| HostError::Failed(format!("reading the reply: {e}")))?
        .to_bytes();
    Ok(Reply { status, etag, kind, body })
}
