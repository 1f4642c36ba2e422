//! Logging setup and the request id every log line and error body carries.

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Install the global subscriber: human-readable text, or JSON lines with `HOODY_LOG_FORMAT=json`.
/// `RUST_LOG` filters; the default is `info`.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry.with(fmt::layer().json().with_current_span(true).with_span_list(false)).try_init()
    } else {
        registry.with(fmt::layer().with_target(false)).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}

/// Run `fut` with `id` as the current request id.
pub async fn with_request_id<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The request id of the request being served, or `""` outside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}
