//! The `ai` tag: the platform's AI model catalogue, from a JSON file (`HOODY_AI_MODELS_FILE`, or
//! `catalogue/ai-models.json` in the repository). Read again when the file changes (its size or
//! modification time); a file that no longer parses keeps the last good catalogue in service.
//! Only the contract's fields pass: whatever else the file holds (an upstream provider, its
//! model name, its prices) never reaches a client, and the prices are the platform's own.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
    time::SystemTime,
};

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::principal::Principal,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_models))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelOut {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub context_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub input_modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub output_modalities: Option<Vec<String>>,
    /// The platform's prices (strings or numbers; nothing nested).
    #[schema(value_type = Object)]
    pub pricing: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelsOut {
    /// When the catalogue last changed (RFC 3339), as the file says; null when it does not.
    #[serde(default)]
    pub updated_at: Option<String>,
    pub models: Vec<ModelOut>,
}

/// A parsed catalogue and its entity tag.
struct Loaded {
    out: ModelsOut,
    etag: String,
}

/// The price keys a catalogue may show (the platform's own prices, in its own terms); any other
/// key of `pricing` (an upstream cost, a provider's rate) is dropped.
const PRICE_KEYS: &[&str] = &[
    "currency",
    "unit",
    "prompt",
    "completion",
    "request",
    "image",
    "audio",
    "web_search",
    "internal_reasoning",
    "input_cache_read",
    "input_cache_write",
];

/// Parse and check a catalogue: ids unique and non-empty, names non-empty, prices flat.
fn parse(text: &str) -> std::result::Result<Loaded, String> {
    let mut out: ModelsOut = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(at) = &out.updated_at {
        let at = chrono::DateTime::parse_from_rfc3339(at).map_err(|_| format!("updated_at {at:?} is not RFC 3339"))?;
        out.updated_at = Some(crate::db::ts(at.with_timezone(&chrono::Utc)));
    }
    let mut seen = std::collections::HashSet::new();
    for m in &mut out.models {
        if m.id.trim().is_empty() || m.name.trim().is_empty() {
            return Err("every model needs an id and a name".into());
        }
        if !seen.insert(m.id.clone()) {
            return Err(format!("model {:?} is listed twice", m.id));
        }
        m.pricing.retain(|k, _| PRICE_KEYS.contains(&k.as_str()));
        if let Some((k, _)) = m.pricing.iter().find(|(_, v)| !(v.is_string() || v.is_number())) {
            return Err(format!("model {:?}: pricing.{k} must be a string or a number", m.id));
        }
    }
    let bytes = serde_json::to_vec(&out).map_err(|e| e.to_string())?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..32]);
    Ok(Loaded { out, etag })
}

fn built_in() -> Arc<Loaded> {
    static BUILT_IN: OnceLock<Arc<Loaded>> = OnceLock::new();
    BUILT_IN
        .get_or_init(|| {
            Arc::new(parse(include_str!("../../../catalogue/ai-models.json")).expect("catalogue/ai-models.json parses"))
        })
        .clone()
}

/// The file's catalogue, read again only when its size or modification time changed.
async fn from_file(path: &Path) -> Result<Arc<Loaded>> {
    type Cache = Mutex<HashMap<PathBuf, ((SystemTime, u64), Arc<Loaded>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let cached = || cache.lock().unwrap_or_else(|e| e.into_inner()).get(path).cloned();
    let stamp = match tokio::fs::metadata(path).await {
        Ok(m) => (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()),
        Err(e) => return stale(cached().map(|c| c.1), path, &e.to_string()),
    };
    if let Some((s, loaded)) = cached() {
        if s == stamp {
            return Ok(loaded);
        }
    }
    let parsed = match tokio::fs::read_to_string(path).await {
        Ok(text) => parse(&text),
        Err(e) => Err(e.to_string()),
    };
    match parsed {
        Ok(loaded) => {
            let loaded = Arc::new(loaded);
            cache.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_owned(), (stamp, loaded.clone()));
            Ok(loaded)
        }
        Err(why) => stale(cached().map(|c| c.1), path, &why),
    }
}

/// The last good catalogue when the file cannot be used now; 503 when there never was one.
fn stale(last: Option<Arc<Loaded>>, path: &Path, why: &str) -> Result<Arc<Loaded>> {
    static LOGGED: crate::telemetry::Throttle = crate::telemetry::Throttle::new(std::time::Duration::from_secs(60));
    if let Some(skipped) = LOGGED.admit() {
        tracing::warn!(file = %path.display(), error = why, skipped, "the AI model catalogue cannot be read");
    }
    last.ok_or(ApiError::Unavailable { retry_after_secs: 60 })
}

/// List available AI models (Hoody catalog)
///
/// The platform's catalogue, with its own prices. Sent with an `ETag`; a request with
/// `If-None-Match` naming it gets 304 and no body.
#[utoipa::path(get, path = "/ai/models", tag = "ai", security(("bearer" = [])),
    responses((status = 200, body = Envelope<ModelsOut>), (status = 304, description = "Not modified"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_models(State(st): State<AppState>, _me: Principal, headers: HeaderMap) -> Result<Response> {
    let loaded = match &st.cfg.ai_models_file {
        Some(path) => from_file(path).await?,
        None => built_in(),
    };
    let etag = HeaderValue::from_str(&loaded.etag).map_err(anyhow::Error::from)?;
    let fresh =
        headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
            |t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == loaded.etag
            },
        );
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ApiOk::new("AI models", loaded.out.clone()).into_response()
    };
    res.headers_mut().insert(header::ETAG, etag);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_catalogue_parses() {
        assert!(!built_in().out.models.is_empty());
    }

    #[test]
    fn unknown_fields_are_dropped_and_bad_catalogues_refused() {
        let l = parse(
            r#"{"models":[{"id":"a","name":"A","provider":"upstream","upstream_price":1,
                "pricing":{"prompt":"1","upstream_cost":"0.1","provider_rate":{"x":1}}}]}"#,
        )
        .unwrap();
        let text = serde_json::to_string(&l.out).unwrap();
        assert!(!text.contains("upstream") && !text.contains("provider"), "{text}");
        assert_eq!(l.out.models[0].pricing.len(), 1);
        assert!(parse(r#"{"models":[{"id":"a","name":"A","pricing":{"prompt":{"nested":1}}}]}"#).is_err());
        assert!(parse(r#"{"models":[{"id":"a","name":"A","pricing":{}},{"id":"a","name":"B","pricing":{}}]}"#).is_err());
        assert!(parse(r#"{"updated_at":"yesterday","models":[]}"#).is_err());
        assert!(parse("not json").is_err());
    }
}
