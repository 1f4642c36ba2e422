//! hoody-api: the platform control plane.

pub mod accounts;
pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod docs;
pub mod envelope;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod host;
pub mod idempotency;
pub mod ids;
pub mod images;
pub mod invalidate;
pub mod invites;
pub mod invoice_pdf;
pub mod lease;
pub mod ledger;
pub mod lifecycle;
pub mod listener;
pub mod mail;
pub mod metrics;
pub mod middleware;
pub mod money;
pub mod notices;
pub mod openapi;
pub mod payments;
pub mod placement;
pub mod proxy;
pub mod quota;
pub mod rentals_admin;
pub mod resolver;
pub mod secret;
pub mod servers;
pub mod shutdown;
pub mod signals;
pub mod state;
pub mod stream;
pub mod telemetry;
pub mod vault;
pub mod writeback;

use std::{sync::atomic::Ordering, sync::Arc, time::Duration};

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    response::IntoResponse,
    routing::get,
    Router,
};
use tower_http::{catch_panic::CatchPanicLayer, cors::CorsLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::ApiError, state::AppState};

pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every documented route, and the OpenAPI document they make.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(api::router())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .split_for_parts();
    openapi::name_patch_aliases(&mut doc);
    openapi::describe_responses(&mut doc);
    idempotency::register(&doc);
    (router, doc)
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let (api, _) = routes();
    let cors = cors(&state.cfg.cors_origins);
    let socket_io = stream::socket::middleware(&state);
    Router::new()
        .merge(api)
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, envelope::JSON_UTF8)], openapi::served_json()) }),
        )
        .route("/docs", get(docs::page))
        .route("/docs/assets/{tag}/{file}", get(docs::asset))
        .fallback(|| async { ApiError::not_found("route_not_found", "Route not found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(axum::middleware::from_fn(middleware::capture_route))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, state.cfg.request_timeout))
        .layer(cors)
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::request_context))
        // Outermost: Engine.IO requests on the events path are socket.io's (no request timeout).
        .layer(axum::middleware::from_fn(socket_io))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static(idempotency::HEADER),
            HeaderName::from_static("x-hoody-client-id"),
            HeaderName::from_static("x-hoody-client-name"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static(idempotency::REPLAYED),
            HeaderName::from_static(auth::signing::RESPONSE_HEADER),
        ])
        .max_age(Duration::from_secs(600))
}

/// Serve until `shutdown` resolves, then finish in-flight requests within the grace period.
/// Background workers (the mail outbox) run alongside.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (trigger, stop) = shutdown::channel();
    let mailer = tokio::spawn({
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            // The outbox table exists once migrations ran.
            if migrated(&st, &stop).await {
                let prepare = || api::auth::mail_requests::process(&st);
                st.mailer.run_worker(st.db.clone(), stop, api::auth::mail_requests::BATCH as usize, prepare).await
            }
        }
    });
    let janitor = tokio::spawn(janitor(state.clone(), stop.clone()));
    let db_probe = tokio::spawn(health::watch_db(state.clone(), stop.clone()));
    let principals = tokio::spawn({
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            if migrated(&st, &stop).await {
                invalidate::run_listener(st, stop).await
            }
        }
    });
    let numberer = tokio::spawn({
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            if migrated(&st, &stop).await {
                events::run_numberer(st.db.clone(), stop).await
            }
        }
    });
    let dispatcher = tokio::spawn({
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            if migrated(&st, &stop).await {
                stream::run(st, stop).await
            }
        }
    });
    let writers = tokio::spawn(writeback_workers(state.clone(), stop.clone()));
    tokio::spawn(register_local_host(state.clone(), stop.clone()));
    tokio::spawn(lifecycle::warm_pool::run(state.clone(), stop.clone()));
    let reconciler = tokio::spawn({
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            if migrated(&st, &stop).await {
                lifecycle::reconciler::run(st, stop).await
            }
        }
    });
    let share_sweeper = tokio::spawn({
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            if migrated(&st, &stop).await {
                lifecycle::shares::run_sweeper(st, stop).await
            }
        }
    });
    let rental_sweeper = tokio::spawn({
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            if migrated(&st, &stop).await {
                api::rentals::sweeper::run(st, stop).await
            }
        }
    });
    let draining = state.clone();
    let leases = state.clone();
    let grace = state.cfg.shutdown_grace;
    let (drain_trigger, drain_started) = shutdown::channel();
    let header_timeout = state.cfg.header_read_timeout;
    let app = app(state);
    let graceful = async move {
        shutdown.await;
        draining.draining.store(true, Ordering::SeqCst);
        drain_trigger.fire();
        tracing::info!("shutting down: finishing in-flight requests");
    };
    let served = listener::serve(listener, app, header_timeout, graceful);
    // In-flight requests get `grace` from the moment draining starts.
    let result = tokio::select! {
        r = served => r.map_err(anyhow::Error::from),
        _ = async { drain_started.wait().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("grace period over; closing remaining connections");
            Ok(())
        }
    };
    trigger.fire();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = mailer.await;
        let _ = janitor.await;
        let _ = db_probe.await;
        let _ = writers.await;
        let _ = reconciler.await;
        let _ = share_sweeper.await;
        let _ = rental_sweeper.await;
        let _ = numberer.await;
        let _ = dispatcher.await;
        let _ = principals.await;
    })
    .await;
    lease::release_all(&leases).await;
    result
}

/// Periodic clean-up: expired rate-limit windows, old activity, expired idempotency keys, ended
/// sessions, spent device authorizations and codes, security history past its retention. One
/// replica of the cluster does it each period (the `janitor` lease).
async fn janitor(st: AppState, stop: shutdown::Stop) {
    if migrated(&st, &stop).await {
        lease::every(st, stop, "janitor", Duration::from_secs(600), |st| async move { janitor_pass(&st).await }).await
    }
}

async fn janitor_pass(st: &AppState) {
    if let Err(e) = db::rate_limits::prune(&st.db).await {
        tracing::debug!(error = %e, "rate limit prune skipped");
    }
    if let Err(e) = db::activity::prune(&st.db, st.cfg.activity_retention_days).await {
        tracing::debug!(error = %e, "activity prune skipped");
    }
    if let Err(e) = idempotency::sweep(&st.db).await {
        tracing::debug!(error = %e, "idempotency key sweep skipped");
    }
    if let Err(e) = db::sessions::prune(&st.db).await {
        tracing::debug!(error = %e, "session prune skipped");
    }
    let signed_in = async {
        db::device::prune(&st.db).await?;
        db::auth_codes::prune_codes(&st.db).await?;
        db::security_events::prune(&st.db, st.cfg.audit_retention_days).await?;
        db::notifications::prune(&st.db, 30).await.map(|_| ())
    };
    if let Err(e) = signed_in.await {
        tracing::debug!(error = %e, "sign-in state prune skipped");
    }
}

/// Wait until migrations ran (true), or until shutdown (false).
async fn migrated(st: &AppState, stop: &shutdown::Stop) -> bool {
    while !st.migrated.load(Ordering::SeqCst) {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.wait() => return false,
        }
    }
    true
}

/// The embedded default host: the local LXD, once the registry table exists.
async fn register_local_host(st: AppState, stop: shutdown::Stop) {
    if !migrated(&st, &stop).await {
        return;
    }
    if let Err(e) = servers::register_local(&st.db, &st.cfg.lxd_socket).await {
        tracing::warn!(error = %e, "could not register the local LXD");
    }
}

/// The batched writers: token last use and the activity log.
async fn writeback_workers(st: AppState, stop: shutdown::Stop) {
    let every = st.cfg.writeback_interval;
    let uses = st.token_use.run(every, 1000, stop.clone(), |batch| writeback::token_use::flush(&st.db, batch));
    let activity = st.activity.run(every, 1000, stop, |batch| writeback::activity::flush(&st.db, batch));
    tokio::join!(uses, activity);
}

pub fn spawn_migrations(state: &AppState) {
    let (db, flag) = (state.db.clone(), Arc::clone(&state.migrated));
    tokio::spawn(async move { db::migrate_with_retry(&db, flag).await });
}
