//! Every namespace of the control plane, nested under `/api/v1`.

mod activity;
mod ai;
pub(crate) mod aliases;
pub(crate) mod auth;
pub(crate) mod containers;
mod env;
pub(crate) mod events;
mod fields;
mod firewall;
pub(crate) mod images;
pub mod list;
mod meta;
mod notifications;
pub(crate) mod pools;
pub(crate) mod projects;
pub(crate) mod proxy;
mod realms;
pub(crate) mod rentals;
mod server_commands;
mod shares;
pub(crate) mod tfa;
pub(crate) mod tokens;
pub(crate) mod users;
mod utilities;
mod vault;
mod waitlist;
pub(crate) mod wallet;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(activity::router())
        .merge(ai::router())
        .merge(aliases::router())
        .merge(auth::router())
        .merge(containers::router())
        .merge(env::router())
        .merge(events::router())
        .merge(firewall::router())
        .merge(images::router())
        .merge(meta::router())
        .merge(notifications::router())
        .merge(pools::router())
        .merge(projects::router())
        .merge(proxy::router())
        .merge(rentals::router())
        .merge(realms::router())
        .merge(server_commands::router())
        .merge(shares::router())
        .merge(tfa::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(utilities::router())
        .merge(vault::router())
        .merge(waitlist::router())
        .merge(wallet::router());
    OpenApiRouter::new().nest("/api/v1", v1)
}

#[cfg(test)]
mod secrets_in_debug {
    use serde::de::DeserializeOwned;

    /// Parse `json` as a request body and format it the way a log line or a panic would.
    fn debug_of<T: DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        let value: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        format!("{value:?}")
    }

    #[test]
    fn request_bodies_never_show_their_secrets() {
        let seen = [
            debug_of::<super::auth::dto::SignupIn>(r#"{"email":"a@b.c","password":"S3cret-Pass-one!"}"#),
            debug_of::<super::auth::dto::LoginIn>(r#"{"email":"a@b.c","password":"S3cret-Pass-one!"}"#),
            debug_of::<super::auth::dto::ResetPasswordIn>(r#"{"token":"reset-tok-two","password":"S3cret-Pass-one!"}"#),
            debug_of::<super::auth::dto::RefreshIn>(r#"{"refreshToken":"refresh-tok-three"}"#),
            debug_of::<super::auth::dto::ExchangeIn>(
                r#"{"auth_intent_token":"intent-four","code_verifier":"verifier-five"}"#,
            ),
            debug_of::<super::tfa::dto::VerifyIn>(r#"{"temp_token":"temp-six","code":"123456"}"#),
            debug_of::<super::tfa::dto::PasswordCodeIn>(r#"{"password":"S3cret-Pass-one!","code":"654321"}"#),
            debug_of::<super::users::dto::UserUpdateIn>(
                r#"{"password":"S3cret-Pass-one!","current_password":"old-seven"}"#,
            ),
            debug_of::<super::tokens::dto::CreateIn>(r#"{"alias":"x","otp_code":"112233"}"#),
            debug_of::<super::vault::dto::SetIn>(r#"{"value":"vault-eight","metadata":{"k":"vault-nine"}}"#),
        ];
        for text in &seen {
            for secret in [
                "S3cret-Pass-one!",
                "reset-tok-two",
                "refresh-tok-three",
                "intent-four",
                "verifier-five",
                "temp-six",
                "123456",
                "654321",
                "old-seven",
                "112233",
                "vault-eight",
                "vault-nine",
            ] {
                assert!(!text.contains(secret), "{secret} shows in {text}");
            }
            assert!(text.contains("[redacted]"), "{text}");
        }
    }
}
