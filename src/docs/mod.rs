//! The interactive API reference at `/docs`: Swagger UI (vendored from npm's `swagger-ui-dist`
//! under `vendor/swagger-ui/`, refreshed by `scripts/vendor-swagger-ui`) embedded in the binary,
//! so the page works with no CDN and no internet.
//!
//! The assets are served under `/docs/assets/{tag}/…`, where the tag is a digest of all of them:
//! a new build with other assets has other URLs, so the assets can be cached for a year
//! (`immutable`) while the page itself is never cached. The page's CSP allows scripts, styles and
//! fetches from this origin only (`'self'`), and nothing inline.

use std::sync::OnceLock;

use axum::{
    http::{header, HeaderValue},
    response::{Html, IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use crate::{error::ApiError, extract::Path};

/// The page's policy: its own scripts, styles and fetches (the document, try-it-out calls),
/// Swagger UI's inline SVG icons as `data:` images; no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A year: the URL changes with the content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The vendored Swagger UI release (`vendor/swagger-ui/VERSION`).
pub const SWAGGER_UI_VERSION: &str = include_str!("../../vendor/swagger-ui/VERSION");

/// (file name, content type, bytes) of every asset the page loads.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../vendor/swagger-ui/swagger-ui-bundle.js"),
    ),
    ("swagger-ui.css", "text/css; charset=utf-8", include_bytes!("../../vendor/swagger-ui/swagger-ui.css")),
    ("docs.js", "text/javascript; charset=utf-8", include_bytes!("docs.js")),
    ("docs.css", "text/css; charset=utf-8", include_bytes!("docs.css")),
];

const PAGE: &str = include_str!("index.html");

/// The digest of every asset, as the path segment their URLs carry.
pub fn asset_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let mut h = Sha256::new();
        h.update(SWAGGER_UI_VERSION.trim().as_bytes());
        for (name, _, bytes) in ASSETS {
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        hex::encode(&h.finalize()[..8])
    })
}

/// `GET /docs`.
pub async fn page() -> Response {
    static BODY: OnceLock<String> = OnceLock::new();
    let body = BODY.get_or_init(|| PAGE.replace("{tag}", asset_tag()));
    (
        [
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            // The page names the assets of this build: never reuse an old copy.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Html(body.as_str()),
    )
        .into_response()
}

/// `GET /docs/assets/{tag}/{file}`: an asset of this build; another build's tag or an unknown
/// file is 404 (an old page asks for its own assets again after a reload).
pub async fn asset(Path((tag, file)): Path<(String, String)>) -> Response {
    let found = ASSETS.iter().find(|(name, _, _)| *name == file).filter(|_| tag == asset_tag());
    let Some((_, content_type, bytes)) = found else {
        return ApiError::not_found("route_not_found", "Route not found").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        *bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_assets_that_exist() {
        let page = PAGE.replace("{tag}", asset_tag());
        let named: Vec<&str> = page.split("/docs/assets/").skip(1).map(|s| s.split('"').next().unwrap()).collect();
        assert_eq!(named.len(), ASSETS.len(), "{named:?}");
        for url in named {
            let (tag, file) = url.split_once('/').unwrap();
            assert_eq!(tag, asset_tag());
            assert!(ASSETS.iter().any(|(name, _, _)| *name == file), "{file}");
        }
        assert!(!page.contains("<script>") && !page.contains("<style"), "nothing inline: the CSP allows none");
    }

    #[test]
    fn the_vendored_release_is_the_one_named() {
        // VERSION and the bundle come from one `scripts/vendor-swagger-ui` run.
        let bundle = std::str::from_utf8(ASSETS[0].2).unwrap();
        let stamp = format!("PACKAGE_VERSION:\"{}\"", SWAGGER_UI_VERSION.trim());
        assert!(bundle.contains(&stamp), "the bundle is not swagger-ui-dist {SWAGGER_UI_VERSION}");
    }
}
