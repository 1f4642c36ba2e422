//! `POST /waitlist` (join; one confirmation mail per address) and `PATCH /waitlist` (what the
//! person is interested in). Both public and limited per client IP.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    api::auth::signup::{check_email, normalize_email},
    auth::limits,
    db::waitlist,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json},
    mail::templates,
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct WaitlistJoinIn {
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistOut {
    pub email: String,
}

/// A choice of a few texts, or `""` (changes nothing). The schema is written by hand: the derive
/// did not see the `serde(rename)` of a macro's variants and documented the Rust names.
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)*
            /// Changes nothing.
            #[serde(rename = "")]
            Unset,
        }
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some("`\"\"` (or leaving the field out) changes nothing."))
                    .enum_values(Some([$($text,)* ""]))
                    .into()
            }
        }
        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
        impl $name {
            fn text(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => Some($text),)*
                    Self::Unset => None,
                }
            }
        }
    };
}

choice!(Interest { Dev = "dev", Ai = "ai", Saas = "saas", Security = "security", Creative = "creative",
    Productivity = "productivity", It = "it", Other = "other" });
choice!(Context { Individual = "individual", Startup = "startup", Medium = "medium", Enterprise = "enterprise",
    Academic = "academic" });
choice!(Industry { Softdev = "softdev", Saas = "saas", Paas = "paas", Cloud = "cloud", AiMl = "ai-ml",
    Datasci = "datasci", Cyber = "cyber", Devops = "devops", Gamedev = "gamedev", Ecom = "ecom",
    Fintech = "fintech", Healthtech = "healthtech", Edtech = "edtech", Agritech = "agritech",
    Marketing = "marketing", Consulting = "consulting", Telecom = "telecom", Iot = "iot",
    Blockchain = "blockchain", Arvr = "arvr", Robotics = "robotics", Research = "research",
    Freelance = "freelance", Techstartup = "techstartup", EnterpriseSw = "enterprise-sw",
    Opensource = "opensource", OtherTech = "other-tech", OtherNontech = "other-nontech" });
choice!(Role { Lead = "lead", Manager = "manager", Director = "director", Exec = "exec", Founder = "founder",
    Engineer = "engineer", Devops = "devops", Ml = "ml", Security = "security", Consultant = "consultant",
    Student = "student", Researcher = "researcher", Other = "other" });

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "interest": "dev", "context": "startup", "role": "engineer"}))]
pub struct WaitlistEnrichIn {
    /// The address that joined with `POST /waitlist`.
    pub email: String,
    /// An empty string (or leaving a field out) changes nothing.
    pub interest: Option<Interest>,
    pub context: Option<Context>,
    pub industry: Option<Industry>,
    pub role: Option<Role>,
}

async fn guard(st: &AppState, client: &ClientIp) -> Result<()> {
    limits::hit(&st.db, &format!("waitlist:ip:{}", client.ip), st.cfg.limits.waitlist_per_ip, limits::HOUR).await
}

fn address(input: &str) -> Result<String> {
    let email = normalize_email(input);
    check_email(&email).map_err(|e| ApiError::validation(vec![e]))?;
    Ok(email)
}

/// Join the Hoody waitlist
///
/// Public. The first signup of an address sends one confirmation mail; a repeat updates the
/// record and sends nothing.
#[utoipa::path(post, path = "/waitlist", tag = "waitlist", request_body = WaitlistJoinIn,
    responses((status = 200, body = Envelope<WaitlistOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn join_waitlist(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<WaitlistJoinIn>,
) -> Result<ApiOk<WaitlistOut>> {
    let email = address(&input.email)?;
    guard(&st, &client).await?;
    let mut tx = st.db.begin().await?;
    let first = waitlist::join(&mut *tx, &email, &client.ip.to_string()).await?;
    if first {
        let m = templates::waitlist_joined();
        st.mailer.enqueue(&mut *tx, &email, m.subject, &m.body).await?;
        waitlist::mark_confirmation_sent(&mut *tx, &email).await?;
    }
    tx.commit().await?;
    if first {
        st.mailer.wake();
    }
    Ok(ApiOk::new("You are on the waitlist", WaitlistOut { email }))
}

/// Enrich an existing waitlist signup
///
/// Public. 404 when the address never joined; a field left out or sent as `""` keeps its value.
#[utoipa::path(patch, path = "/waitlist", tag = "waitlist", request_body = WaitlistEnrichIn,
    responses((status = 200, body = Envelope<WaitlistOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn enrich_waitlist(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<WaitlistEnrichIn>,
) -> Result<ApiOk<WaitlistOut>> {
    let email = address(&input.email)?;
    guard(&st, &client).await?;
    let found = waitlist::enrich(
        &st.db,
        &email,
        input.interest.and_then(Interest::text),
        input.context.and_then(Context::text),
        input.industry.and_then(Industry::text),
        input.role.and_then(Role::text),
    )
    .await?;
    if !found {
        return Err(ApiError::not_found("waitlist_entry_not_found", "This address has not joined the waitlist"));
    }
    Ok(ApiOk::new("Waitlist entry updated", WaitlistOut { email }))
}
