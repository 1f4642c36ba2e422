//! Payment providers: top-ups paid outside the platform and credited to the ledger when the
//! provider confirms them (its verified webhook), never when they are started.

pub mod nowpayments;
pub mod stripe;

/// One HTTP client for the providers (connection reuse; no redirects).
pub fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("hoody-api")
            .build()
            .unwrap_or_default()
    })
}

/// What a provider answered, or why there is nothing to go on.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request (a declined card, a bad parameter): its message.
    #[error("{0}")]
    Refused(String),
    /// The provider could not be reached or answered nonsense.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

/// Send `req` and read a provider's answer: a success as `T`; a 4xx as [`ProviderError::Refused`]
/// with the message `message_of` finds in the body (else the status); anything else (5xx, a
/// timeout, an unreadable success) as [`ProviderError::Unavailable`]. 401, 403 and 429 are ours
/// to mend (a wrong or revoked key, a rate limit), not a refusal of the payment: they are
/// Unavailable, and their message (which may echo part of the key) goes to no one. No URL
/// (which may carry ids) and no request detail reaches the error.
pub(crate) async fn send<T: serde::de::DeserializeOwned>(
    req: reqwest::RequestBuilder,
    message_of: fn(&[u8]) -> Option<String>,
) -> Result<T, ProviderError> {
    let res = req.send().await.map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Unavailable(format!("unreadable answer: {e}")));
    }
    if matches!(status.as_u16(), 401 | 403 | 429) {
        return Err(ProviderError::Unavailable(format!("HTTP {status}")));
    }
    if status.is_client_error() {
        let message = message_of(&body).filter(|m| !m.is_empty()).unwrap_or_else(|| format!("refused ({status})"));
        return Err(ProviderError::Refused(message));
    }
    Err(ProviderError::Unavailable(format!("HTTP {status}")))
}
