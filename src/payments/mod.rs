//! Payment providers: top-ups paid outside the platform and credited to the ledger when the
//! provider confirms them (its verified webhook), never when they are started.

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
