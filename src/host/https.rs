//! LXD's REST API over HTTPS (remote hosts, `:8443`): we present our client certificate, trust
//! only the host's own certificate, and check its SHA-256 fingerprint on every reply.

use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use reqwest::tls::TlsInfo;
use sha2::{Digest, Sha256};

use super::{
    unix::{Outgoing, Reply},
    HostError,
};

pub struct HttpsTransport {
    client: reqwest::Client,
    base: String,
    fingerprint: Option<String>,
}

/// What it takes to reach a remote LXD.
pub struct HttpsIdentity<'a> {
    /// `https://host:8443`
    pub base: &'a str,
    pub client_cert_pem: &'a str,
    pub client_key_pem: &'a str,
    /// The host's certificate (PEM): the only one trusted for this host.
    pub server_cert_pem: &'a str,
    /// SHA-256 of the host certificate (64 hex), checked on every reply when given.
    pub fingerprint: Option<&'a str>,
}

impl HttpsTransport {
    pub fn new(id: &HttpsIdentity<'_>, connect_timeout: Duration, timeout: Duration) -> anyhow::Result<Self> {
        let identity =
            reqwest::Identity::from_pem(format!("{}\n{}", id.client_cert_pem, id.client_key_pem).as_bytes())?;
        let server = reqwest::Certificate::from_pem(id.server_cert_pem.as_bytes())?;
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(server)
            .identity(identity)
            .tls_info(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .build()?;
        Ok(Self {
            client,
            base: id.base.trim_end_matches('/').to_owned(),
            fingerprint: id.fingerprint.map(str::to_ascii_lowercase),
        })
    }

    pub async fn send(&self, out: Outgoing<'_>) -> Result<Reply, HostError> {
        let method = reqwest::Method::from_bytes(out.method.as_str().as_bytes())
            .map_err(|e| HostError::Failed(e.to_string()))?;
        let max_reply = out.max_reply;
        let mut req = self.client.request(method, format!("{}{}", self.base, out.path));
        if let Some(b) = out.body {
            req = req.header("content-type", out.content_type).body(b);
        }
        for (k, v) in out.headers {
            req = req.header(k, v);
        }
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                HostError::Timeout
            } else if e.is_connect() {
                HostError::Unavailable { reason: format!("https: {e}"), retry_after_secs: 5 }
            } else {
                // Connected: the request may have reached the host (see unix::send).
                HostError::Failed(format!("https: {e}"))
            }
        })?;
        if let Some(want) = &self.fingerprint {
            let got = res
                .extensions()
                .get::<TlsInfo>()
                .and_then(TlsInfo::peer_certificate)
                .map(|der| hex::encode(Sha256::digest(der)));
            if got.as_deref() != Some(want.as_str()) {
                return Err(HostError::Unavailable {
                    reason: "host certificate fingerprint mismatch".into(),
                    retry_after_secs: 60,
                });
            }
        }
        let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let etag = res.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let kind = res.headers().get("x-lxd-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if res.content_length().is_some_and(|n| n as usize > max_reply) {
            return Err(HostError::Failed("reply too large".into()));
        }
        let mut body = Vec::new();
        let mut res = res;
        while let Some(chunk) = res.chunk().await.map_err(|e| HostError::Failed(format!("reading the reply: {e}")))? {
            if body.len() + chunk.len() > max_reply {
                return Err(HostError::Failed("reply too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, etag, kind, body: Bytes::from(body) })
    }
}
