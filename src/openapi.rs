//! The OpenAPI 3.1 document, generated from the handlers' annotations (`/openapi.json`; the page
//! at `/docs` renders it: `crate::docs`).

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hoody API",
        description = "The platform control plane: identity, projects, containers, billing and vault under `/api/v1`. \
            Every response is the envelope `{statusCode, message, data}`; errors add `code`, `error` and `request_id`."
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "authentication", description = "Signup, verification, login, sessions and password reset"),
        (name = "tfa", description = "TOTP second factor: setup, backup codes, token gate, login step"),
        (name = "authTokens", description = "Long-lived, scoped auth tokens (`hdy_…`): permissions, realms, IP whitelist, expiry"),
        (name = "realms", description = "The realm ids an account uses"),
        (name = "users", description = "User profiles"),
        (name = "activity", description = "The account's request log"),
        (name = "meta", description = "The API's signing key and community counters"),
        (name = "utilities", description = "Helpers"),
        (name = "waitlist", description = "The public waitlist"),
        (name = "notifications", description = "The account inbox (notices and security signals) and public notices"),
        (name = "vault", description = "Each account's encrypted key-value vault, per realm"),
        (name = "ai", description = "The platform's AI model catalogue"),
        (name = "ops", description = "Liveness, readiness and metrics")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or hdy_ auth token").build(),
            ),
        );
    }
}

/// A handler served on PUT and PATCH (the CLI sends PATCH where the SDK sends PUT) is one
/// operation under two methods: the PATCH copy gets its own operation id (`<id>_patch`), since
/// ids are unique in a document.
pub fn name_patch_aliases(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let put_id = item.put.as_ref().and_then(|op| op.operation_id.clone());
        if let (Some(patch), Some(id)) = (item.patch.as_mut(), put_id) {
            if patch.operation_id.as_ref() == Some(&id) {
                patch.operation_id = Some(format!("{id}_patch"));
            }
        }
    }
}

/// A response the handler's annotation left without a description gets the one its status
/// class has (a reader of `/docs` otherwise sees a bare code).
pub fn describe_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in doc.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(r) = response else { continue };
                if r.description.is_empty() {
                    r.description = status_description(status).to_owned();
                }
            }
        }
    }
}

fn status_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "No content",
        "4XX" => "The request was refused: the error envelope (`code` says why, `details` which field)",
        "5XX" => "The server or a host it needs failed: the error envelope; `retry_after` when worth retrying",
        s if s.starts_with('2') => "Success",
        s if s.starts_with('3') => "Redirect: see `Location`",
        s if s.starts_with('4') => "Refused: the error envelope",
        _ => "Failed: the error envelope",
    }
}

/// The document as committed in `openapi/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    crate::routes().1
}

pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// [`document_json`], made once: it does not change while the process runs.
pub fn served_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(document_json)
}
