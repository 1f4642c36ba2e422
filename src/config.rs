//! Every setting, read from the environment. The README's settings table mirrors this file.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{bail, Context};
use ipnet::IpNet;

use crate::secret::Secret;

#[derive(Clone, Debug)]
pub struct Config {
    /// `HOODY_LISTEN`: address the HTTP server binds.
    pub listen: SocketAddr,
    /// `DATABASE_URL`: when unset, a private PostgreSQL cluster is started under the data dir.
    pub database_url: Option<Secret>,
    /// `HOODY_DATA_DIR`: keys, the embedded cluster and the file outbox live here.
    pub data_dir: PathBuf,
    /// `HOODY_PUBLIC_URL`: base of the links in mail.
    pub public_url: String,
    /// `HOODY_SMTP_URL`: `smtp://host:port`; when unset mail is written as `.eml` files.
    pub smtp_url: Option<Secret>,
    /// `HOODY_MAIL_FROM`
    pub mail_from: String,
    /// `HOODY_JWT_SECRET`: when unset, generated once and kept in the data dir.
    pub jwt_secret: Option<Secret>,
    /// `HOODY_SECRET_KEY`: 64 hex characters encrypting secrets at rest; when unset, generated
    /// once and kept in the data dir.
    pub secret_key: Option<Secret>,
    /// `HOODY_SECRET_KEY_PREVIOUS`: earlier secret keys (comma-separated, 64 hex each) that what
    /// was sealed before a key rotation is still opened with. `hoody-api vault rekey` re-seals
    /// only the vault; TOTP secrets and the other sealed values still need the old key listed.
    pub secret_key_previous: Vec<Secret>,
    /// `HOODY_VAULT_LIMIT_MB`: what one account's vault may hold in all realms (values plus
    /// metadata, the earlier versions kept included), in MiB (default 10).
    pub vault_limit_mb: u32,
    /// `HOODY_TRUSTED_PROXIES`: CIDRs whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `HOODY_CORS_ORIGINS`: exact origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// `HOODY_LOG_FORMAT`: `text` or `json`.
    pub log_json: bool,
    /// `HOODY_DB_MAX_CONNECTIONS`
    pub db_max_connections: u32,
    /// `HOODY_DB_HOT_CONNECTIONS`: dedicated connections for the per-request principal lookup.
    pub db_hot_connections: usize,
    /// `HOODY_DB_ACQUIRE_TIMEOUT_MS`: capped at 5 s.
    pub db_acquire_timeout: Duration,
    /// `HOODY_REQUEST_TIMEOUT_SECS`
    pub request_timeout: Duration,
    /// `HOODY_SHUTDOWN_GRACE_SECS`
    pub shutdown_grace: Duration,
    /// `HOODY_HEADER_READ_TIMEOUT_SECS`: a connection must deliver a request's headers within
    /// this (slowloris).
    pub header_read_timeout: Duration,
    /// `HOODY_HASH_THREADS`: threads that may run argon2 at once.
    pub hash_threads: usize,
    /// `HOODY_MAIL_RETRY_SECS`: first retry delay of a failed delivery (doubles each time, ≤ 1 h).
    pub mail_retry: Duration,
    /// Rate limits held in Postgres.
    pub limits: Limits,
    /// Account-wide limits per tier (`HOODY_QUOTA_*`, `HOODY_FREE_QUOTA_*`).
    pub quotas: Quotas,
    /// `HOODY_FIREWALL_SUBNETS`: the IPv4 range firewalled containers' bridges get their /28
    /// subnets from (default `10.250.0.0/16`; a /28 or larger).
    pub firewall_subnets: ipnet::Ipv4Net,
    /// `HOODY_FIREWALL_MAX_RULES`: rules one container may hold, both directions (default 100).
    pub firewall_max_rules: i64,
    /// `HOODY_GITHUB_*`
    pub github: OAuthProvider,
    /// `HOODY_GOOGLE_*`
    pub google: OAuthProvider,
    /// `HOODY_OAUTH_REDIRECT_ALLOWLIST`: the exact `redirect_uri` values OAuth may return to.
    pub oauth_redirects: Vec<String>,
    /// `HOODY_OAUTH_LAUNCH_REDIRECT`: the hosted page a popup hand-off (launch) ends on.
    pub oauth_launch_redirect: Option<String>,
    /// `HOODY_SIGNING_KEY`: 64 hex, the Ed25519 seed that signs responses and claims; when unset,
    /// generated once and kept in the data dir.
    pub signing_key: Option<Secret>,
    /// `HOODY_SIGN_RESPONSES`: add `X-Hoody-Signature` to every response (default on).
    pub sign_responses: bool,
    /// `HOODY_ACTIVITY_RETENTION_DAYS`: activity records older than this are deleted.
    pub activity_retention_days: i64,
    /// `HOODY_WRITEBACK_INTERVAL_MS`: how often batched writes (activity, token last use) flush.
    pub writeback_interval: Duration,
    /// `HOODY_SOCIAL_*`: the counters `GET /meta/social-stats` shows.
    pub social: SocialStats,
    /// `HOODY_LXD_SOCKET`: the local LXD's unix socket; registered as the free server `local`
    /// when it exists and no server is registered.
    pub lxd_socket: PathBuf,
    /// `HOODY_HOST_TIMEOUT_SECS` (one host call, its LXD operation included; default 10) and
    /// `HOODY_HOST_MAX_CONCURRENT` (calls in flight per host; default 16).
    pub host_limits: crate::host::HostLimits,
    /// `HOODY_HOST_OP_DEADLINE_SECS`: all the host calls of one change (create + start, copy +
    /// settle + start…) together; default 20. With the lock wait it stays below the request timeout.
    pub host_op_deadline: Duration,
    /// `HOODY_AI_MODELS_FILE`: the AI model catalogue (`GET /ai/models`), a JSON file read again
    /// when it changes; unset: the catalogue in the repository (`catalogue/ai-models.json`).
    pub ai_models_file: Option<PathBuf>,
    /// `HOODY_PRINCIPAL_CACHE_MS`: how long an authenticated principal is reused without a database
    /// read (default 1000; 0 turns the cache off). Revocations are pushed to every replica at once
    /// (`auth::cache`); this is the bound if a notification is lost.
    pub principal_cache_ttl: Duration,
    /// `HOODY_RUNTIME_CACHE_MS`: how long a container's host state read for `?runtime=` is
    /// served again (2 s; 0 turns it off; at most 60 s). Host work on a container drops it on
    /// every replica at once (`crate::invalidate`).
    pub runtime_cache_ttl: Duration,
    /// `HOODY_HOST_LOCK_WAIT_SECS`: how long a change waits for another change of the same
    /// container to finish before answering 409 `container_busy`; default 5.
    pub host_lock_wait: Duration,
    /// `HOODY_DEFAULT_IMAGE`: the LXD image alias a container gets when none is asked for.
    pub default_image: String,
    /// `HOODY_MAX_SNAPSHOTS`: snapshots a container may keep (default 20).
    pub max_snapshots: i64,
    /// `HOODY_CONTAINERS_DOMAIN`: the edge proxy's domain; kit and alias URLs are
    /// `https://<label>.<server>.<this>` (default `containers.hoody.icu`).
    pub containers_domain: String,
    /// `HOODY_RECONCILE_INTERVAL_SECS`: how often container statuses are checked against the hosts.
    pub reconcile_interval: Duration,
    /// `HOODY_WARM_POOL_INTERVAL_MS`: how often the warm pools are refilled and trimmed (default 2 s).
    pub warm_pool_interval: Duration,
    /// `HOODY_SHARE_SWEEP_INTERVAL_MS`: how often expired storage shares are unmounted and share
    /// mounts repaired (default 15 s).
    pub share_sweep_interval: Duration,
    /// How often ended rentals are looked for (`HOODY_RENTAL_SWEEP_INTERVAL_MS`).
    pub rental_sweep_interval: Duration,
    /// `HOODY_FREE_TIER`: set up a default project and container for newly verified users (default on).
    pub free_tier: bool,
    /// `HOODY_FREE_TIER_INVITES`: the free tier's invite gate (default off). On: the default
    /// container is set up only for users who redeemed an invite code (`hoody-api invites create`).
    pub free_tier_invites: bool,
    /// `HOODY_DEVICE_FLOW`: `hoody login --web` (`/auth/device/…`; default on). Off: those routes answer 404.
    pub device_flow: bool,
    /// `HOODY_DEVICE_VERIFICATION_URL`: the page where a person types a device's user code
    /// (default `<HOODY_PUBLIC_URL>/device`).
    pub device_verification_url: Option<String>,
    /// `HOODY_AUDIT_RETENTION_DAYS`: sign-in and security events (the security history) older
    /// than this are deleted (default 180).
    pub audit_retention_days: i64,
    /// The wallet's settings (`HOODY_AI_CREDIT_FEE_BPS`, `HOODY_TOPUP_*`, `HOODY_GITHUB_BONUS_USD`).
    pub money: Money,
    /// `HOODY_METRICS_ALLOW`: CIDRs (the client address, as `HOODY_TRUSTED_PROXIES` resolves it)
    /// that may read `/metrics`. With this and `metrics_token` both unset, `/metrics` is open.
    pub metrics_allow: Vec<IpNet>,
    /// `HOODY_METRICS_TOKEN`: a bearer token (≥ 16 characters) that may read `/metrics`.
    pub metrics_token: Option<Secret>,
    /// `HOODY_MAIL_MAX_ATTEMPTS`: delivery attempts before a mail is dead-lettered (default 8).
    pub mail_max_attempts: i32,
    /// `HOODY_WRITEBACK_HOLD_ROWS`: rows per write-behind queue held for a retry while the database
    /// is away (default 100,000); past it the oldest are dropped and counted.
    pub writeback_hold_rows: usize,
}

/// What an account may hold: `standard` (`HOODY_QUOTA_PROJECTS`, `_CONTAINERS`, `_SNAPSHOTS`,
/// `_TOKENS`, `_FIREWALL_RULES`, `_ALIASES`, `_SHARES`) and `free`, every new account's tier (`HOODY_FREE_QUOTA_*`).
#[derive(Clone, Debug)]
pub struct Quotas {
    pub standard: crate::quota::AccountLimits,
    pub free: crate::quota::AccountLimits,
}

impl Default for Quotas {
    fn default() -> Self {
        use crate::quota::AccountLimits;
        Self {
            standard: AccountLimits {
                projects: 100,
                containers: 100,
                snapshots: 1000,
                tokens: 500,
                firewall_rules: 10_000,
                aliases: 500,
                shares: 200,
            },
            free: AccountLimits {
                projects: 5,
                containers: 3,
                snapshots: 30,
                tokens: 50,
                firewall_rules: 300,
                aliases: 20,
                shares: 20,
            },
        }
    }
}

/// The wallet's settings. Amounts are dollars as strict decimal strings, like the API's.
#[derive(Clone, Debug)]
pub struct Money {
    /// `HOODY_AI_CREDIT_FEE_BPS`: the fee on a transfer to AI credits, in basis points (default
    /// 500 = 5 %; 0–9999).
    pub ai_fee_bps: u32,
    /// `HOODY_TOPUP_MIN_USD` / `HOODY_TOPUP_MAX_USD`: one top-up's bounds (default 5 and 10000).
    pub topup_min_cents: i64,
    pub topup_max_cents: i64,
    /// `HOODY_GITHUB_BONUS_USD`: the one-time credit for starring the project's repository
    /// (`HOODY_GITHUB_STAR_REPO`) on GitHub; unset or 0: no offer.
    pub github_bonus_cents: i64,
    /// `HOODY_STRIPE_SECRET_KEY` (`sk_…`): card payments are offered only with it and the webhook secret.
    pub stripe_secret_key: Option<Secret>,
    /// `HOODY_STRIPE_WEBHOOK_SECRET` (`whsec_…`): verifies `Stripe-Signature` on the webhook.
    pub stripe_webhook_secret: Option<Secret>,
    /// `HOODY_STRIPE_API_BASE`: Stripe's API (default `https://api.stripe.com`; tests point it at
    /// a local stand-in).
    pub stripe_api_base: String,
    /// `HOODY_STRIPE_RETURN_URL`: where Stripe Checkout sends the payer back (default
    /// `<HOODY_PUBLIC_URL>/wallet`); `?payment=success|cancelled&intent=<id>` is added.
    pub stripe_return_url: Option<String>,
    /// `HOODY_NOWPAYMENTS_API_KEY`: crypto top-ups (NOWPayments' hosted invoices) are offered only
    /// with it and the IPN secret.
    pub nowpayments_api_key: Option<Secret>,
    /// `HOODY_NOWPAYMENTS_IPN_SECRET`: verifies `x-nowpayments-sig` on the IPN callback.
    pub nowpayments_ipn_secret: Option<Secret>,
    /// `HOODY_NOWPAYMENTS_API_BASE`: NOWPayments' API (default `https://api.nowpayments.io`;
    /// tests point it at a local stand-in).
    pub nowpayments_api_base: String,
}

impl Default for Money {
    fn default() -> Self {
        Self {
            ai_fee_bps: 500,
            topup_min_cents: 500,
            topup_max_cents: 1_000_000,
            github_bonus_cents: 0,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_return_url: None,
            nowpayments_api_key: None,
            nowpayments_ipn_secret: None,
            nowpayments_api_base: "https://api.nowpayments.io".into(),
        }
    }
}

impl Money {
    /// Card payments are usable: both Stripe secrets are set.
    pub fn stripe_configured(&self) -> bool {
        self.stripe_secret_key.is_some() && self.stripe_webhook_secret.is_some()
    }

    /// Crypto payments are usable: NOWPayments' API key and IPN secret are both set.
    pub fn nowpayments_configured(&self) -> bool {
        self.nowpayments_api_key.is_some() && self.nowpayments_ipn_secret.is_some()
    }

    fn from_env() -> anyhow::Result<Self> {
        let d = Self::default();
        let usd = |name: &str, default: i64| -> anyhow::Result<i64> {
            match var(name) {
                None => Ok(default),
                Some(v) => crate::money::hundredths(v.trim())
                    .filter(|c| *c <= crate::money::MAX_CENTS)
                    .ok_or_else(|| anyhow::anyhow!("{name}={v:?} is not a dollar amount like 10 or 10.00")),
            }
        };
        let m = Self {
            ai_fee_bps: num("HOODY_AI_CREDIT_FEE_BPS", d.ai_fee_bps)?,
            topup_min_cents: usd("HOODY_TOPUP_MIN_USD", d.topup_min_cents)?.max(1),
            topup_max_cents: usd("HOODY_TOPUP_MAX_USD", d.topup_max_cents)?,
            github_bonus_cents: usd("HOODY_GITHUB_BONUS_USD", 0)?,
            stripe_secret_key: var("HOODY_STRIPE_SECRET_KEY").map(Secret::new),
            stripe_webhook_secret: var("HOODY_STRIPE_WEBHOOK_SECRET").map(Secret::new),
            stripe_api_base: var("HOODY_STRIPE_API_BASE")
                .map(|v| v.trim().trim_end_matches('/').to_owned())
                .unwrap_or(d.stripe_api_base),
            stripe_return_url: var("HOODY_STRIPE_RETURN_URL"),
            nowpayments_api_key: var("HOODY_NOWPAYMENTS_API_KEY").map(Secret::new),
            nowpayments_ipn_secret: var("HOODY_NOWPAYMENTS_IPN_SECRET").map(|v| Secret::new(v.trim().to_owned())),
            nowpayments_api_base: var("HOODY_NOWPAYMENTS_API_BASE")
                .map(|v| v.trim().trim_end_matches('/').to_owned())
                .unwrap_or(d.nowpayments_api_base),
        };
        if m.ai_fee_bps > 9999 {
            bail!("HOODY_AI_CREDIT_FEE_BPS must be between 0 and 9999");
        }
        if m.topup_min_cents > m.topup_max_cents {
            bail!("HOODY_TOPUP_MIN_USD must not exceed HOODY_TOPUP_MAX_USD");
        }
        Ok(m)
    }
}

/// Community counters, as configured (no outbound calls to fetch them).
#[derive(Clone, Debug, Default)]
pub struct SocialStats {
    pub github: Option<i64>,
    pub telegram: Option<i64>,
    pub discord: Option<i64>,
    pub discord_online: Option<i64>,
    pub x: Option<i64>,
    pub linkedin: Option<i64>,
}

/// One OAuth provider: credentials and endpoints (the real provider's by default).
#[derive(Clone, Debug)]
pub struct OAuthProvider {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub authorize_url: String,
    pub token_url: String,
    pub user_url: String,
    /// GitHub only: where the verified addresses are listed.
    pub emails_url: Option<String>,
    /// GitHub only: `…/user/starred` (the star check asks `<this>/<owner>/<repo>`).
    pub starred_url: Option<String>,
    /// GitHub only: the `owner/repo` whose star `intent=star_check` checks.
    pub star_repo: Option<String>,
    pub scope: String,
}

impl OAuthProvider {
    fn github() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            user_url: "https://api.github.com/user".into(),
            emails_url: Some("https://api.github.com/user/emails".into()),
            starred_url: Some("https://api.github.com/user/starred".into()),
            star_repo: None,
            scope: "read:user user:email".into(),
        }
    }

    fn google() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            user_url: "https://openidconnect.googleapis.com/v1/userinfo".into(),
            emails_url: None,
            starred_url: None,
            star_repo: None,
            scope: "openid email profile".into(),
        }
    }

    /// `HOODY_<NAME>_CLIENT_ID`, `_CLIENT_SECRET`, `_AUTHORIZE_URL`, `_TOKEN_URL`, `_USER_URL`,
    /// `_EMAILS_URL`.
    fn with_env(mut self, name: &str) -> Self {
        let get = |k: &str| var(&format!("HOODY_{name}_{k}"));
        self.client_id = get("CLIENT_ID");
        self.client_secret = get("CLIENT_SECRET").map(Secret::new);
        if let Some(v) = get("AUTHORIZE_URL") {
            self.authorize_url = v;
        }
        if let Some(v) = get("TOKEN_URL") {
            self.token_url = v;
        }
        if let Some(v) = get("USER_URL") {
            self.user_url = v;
        }
        if let Some(v) = get("EMAILS_URL") {
            self.emails_url = Some(v);
        }
        if let Some(v) = get("STARRED_URL") {
            self.starred_url = Some(v);
        }
        self.star_repo = get("STAR_REPO");
        self
    }
}

#[derive(Clone, Debug)]
pub struct Limits {
    /// `HOODY_LIMIT_SIGNUP_PER_HOUR` per client IP.
    pub signup_per_hour: i32,
    /// `HOODY_LIMIT_LOGIN_FAILURES_PER_IP` per 30 minutes.
    pub login_failures_per_ip: i32,
    /// `HOODY_LIMIT_LOGIN_FAILURES_PER_ACCOUNT` per hour.
    pub login_failures_per_account: i32,
    /// `HOODY_LIMIT_REFRESH` per 30 minutes per user.
    pub refresh_per_window: i32,
    /// `HOODY_LIMIT_MAIL_PER_ADDRESS` per hour (verification, resend, reset).
    pub mail_per_address: i32,
    /// `HOODY_LIMIT_EMAIL_ACTIONS_PER_IP` per hour (forgot, resend, verify, reset).
    pub email_actions_per_ip: i32,
    /// `HOODY_LIMIT_OTP_FAILURES` per 15 minutes per user: wrong 2FA codes, shared by every
    /// check (token gate, disable, regenerate, temp_token, setup confirmation).
    pub otp_failures: i32,
    /// `HOODY_LIMIT_DEVICE_CODE_FAILURES_PER_IP` per hour: wrong user codes typed on the device page.
    pub device_code_failures_per_ip: i32,
    /// `HOODY_LIMIT_DEVICE_REQUESTS_PER_IP` per 10 minutes: device codes started and polls.
    pub device_requests_per_ip: i32,
    /// `HOODY_LIMIT_WAITLIST_PER_IP` per hour: waitlist signups and updates.
    pub waitlist_per_ip: i32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            signup_per_hour: 5,
            login_failures_per_ip: 1000,
            login_failures_per_account: 100,
            refresh_per_window: 30,
            mail_per_address: 5,
            email_actions_per_ip: 100,
            otp_failures: 10,
            device_code_failures_per_ip: 20,
            device_requests_per_ip: 1000,
            waitlist_per_ip: 20,
        }
    }
}

impl Config {
    /// Defaults for everything; what `from_env` starts from and what tests adjust.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            data_dir,
            public_url: "http://127.0.0.1:8080".into(),
            smtp_url: None,
            mail_from: "Hoody <no-reply@hoody.local>".into(),
            jwt_secret: None,
            secret_key: None,
            secret_key_previous: Vec::new(),
            vault_limit_mb: 10,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            log_json: false,
            db_max_connections: 16,
            db_hot_connections: 4,
            db_acquire_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            hash_threads: default_hash_threads(),
            mail_retry: Duration::from_secs(10),
            limits: Limits::default(),
            quotas: Quotas::default(),
            firewall_subnets: ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 250, 0, 0), 16).unwrap_or_default(),
            firewall_max_rules: 100,
            github: OAuthProvider::github(),
            google: OAuthProvider::google(),
            oauth_redirects: Vec::new(),
            oauth_launch_redirect: None,
            signing_key: None,
            sign_responses: true,
            activity_retention_days: 90,
            writeback_interval: Duration::from_secs(1),
            social: SocialStats::default(),
            lxd_socket: PathBuf::from(crate::host::lxd::DEFAULT_SOCKET),
            host_limits: crate::host::HostLimits::default(),
            host_op_deadline: Duration::from_secs(20),
            host_lock_wait: Duration::from_secs(5),
            principal_cache_ttl: Duration::from_millis(1000),
            runtime_cache_ttl: Duration::from_millis(2000),
            ai_models_file: None,
            default_image: "hoody-busybox".into(),
            containers_domain: "containers.hoody.icu".into(),
            max_snapshots: 20,
            reconcile_interval: Duration::from_secs(30),
            warm_pool_interval: Duration::from_secs(2),
            share_sweep_interval: Duration::from_secs(15),
            rental_sweep_interval: Duration::from_secs(60),
            free_tier: true,
            free_tier_invites: false,
            device_flow: true,
            device_verification_url: None,
            audit_retention_days: 180,
            metrics_allow: Vec::new(),
            metrics_token: None,
            mail_max_attempts: 8,
            writeback_hold_rows: 100_000,
            money: Money::default(),
        }
    }

    /// A request answers with what its change did: the wait for the container, the change and
    /// the two short transactions around it must fit in the request timeout, or a slow host
    /// would turn an acknowledged change into a 408 the client cannot interpret.
    pub fn check_timeouts(&self) -> anyhow::Result<()> {
        let needed = self.host_lock_wait + self.host_op_deadline + Duration::from_secs(3);
        if needed > self.request_timeout {
            bail!(
                "HOODY_HOST_LOCK_WAIT_SECS + HOODY_HOST_OP_DEADLINE_SECS + 3 s ({} s) must not exceed \
                 HOODY_REQUEST_TIMEOUT_SECS ({} s)",
                needed.as_secs(),
                self.request_timeout.as_secs()
            );
        }
        Ok(())
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let mut c = Self::with_data_dir(PathBuf::from(var("HOODY_DATA_DIR").unwrap_or_else(|| "./data".into())));
        if let Some(v) = var("HOODY_LISTEN") {
            c.listen = v.parse().with_context(|| format!("HOODY_LISTEN={v:?} is not host:port"))?;
        }
        c.database_url = var("DATABASE_URL").map(Secret::new);
        if let Some(v) = var("HOODY_PUBLIC_URL") {
            c.public_url = v.trim_end_matches('/').to_owned();
        } else {
            c.public_url = format!("http://{}", c.listen);
        }
        c.smtp_url = var("HOODY_SMTP_URL").map(Secret::new);
        if let Some(v) = var("HOODY_MAIL_FROM") {
            c.mail_from = v;
        }
        c.jwt_secret = var("HOODY_JWT_SECRET").map(Secret::new);
        c.secret_key = var("HOODY_SECRET_KEY").map(Secret::new);
        if let Some(v) = var("HOODY_SECRET_KEY_PREVIOUS") {
            c.secret_key_previous =
                v.split(',').map(str::trim).filter(|k| !k.is_empty()).map(|k| Secret::new(k.to_owned())).collect();
        }
        c.vault_limit_mb = num("HOODY_VAULT_LIMIT_MB", c.vault_limit_mb)?;
        if c.vault_limit_mb == 0 {
            bail!("HOODY_VAULT_LIMIT_MB must be at least 1");
        }
        if let Some(v) = var("HOODY_TRUSTED_PROXIES") {
            c.trusted_proxies = parse_cidrs(&v)?;
        }
        if let Some(v) = var("HOODY_CORS_ORIGINS") {
            c.cors_origins = v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        }
        c.log_json = var("HOODY_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json"));
        c.db_max_connections = num("HOODY_DB_MAX_CONNECTIONS", c.db_max_connections)?;
        c.db_hot_connections = num("HOODY_DB_HOT_CONNECTIONS", c.db_hot_connections)?.max(1);
        let ms: u64 = num("HOODY_DB_ACQUIRE_TIMEOUT_MS", 5000)?;
        c.db_acquire_timeout = Duration::from_millis(ms.clamp(100, 5000));
        c.request_timeout = Duration::from_secs(num("HOODY_REQUEST_TIMEOUT_SECS", 30)?);
        c.shutdown_grace = Duration::from_secs(num("HOODY_SHUTDOWN_GRACE_SECS", 30)?);
        c.header_read_timeout = Duration::from_secs(num("HOODY_HEADER_READ_TIMEOUT_SECS", 10)?.clamp(1, 60));
        c.hash_threads = num("HOODY_HASH_THREADS", c.hash_threads)?.max(1);
        c.mail_retry = Duration::from_secs(num("HOODY_MAIL_RETRY_SECS", 10)?);
        c.github = OAuthProvider::github().with_env("GITHUB");
        c.google = OAuthProvider::google().with_env("GOOGLE");
        if let Some(v) = var("HOODY_OAUTH_REDIRECT_ALLOWLIST") {
            c.oauth_redirects = v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        }
        c.oauth_launch_redirect = var("HOODY_OAUTH_LAUNCH_REDIRECT");
        c.signing_key = var("HOODY_SIGNING_KEY").map(Secret::new);
        if let Some(v) = var("HOODY_LXD_SOCKET") {
            c.lxd_socket = PathBuf::from(v);
        }
        c.host_limits.call_timeout = Duration::from_secs(num("HOODY_HOST_TIMEOUT_SECS", 10)?.clamp(1, 3600));
        c.host_limits.max_concurrent = num("HOODY_HOST_MAX_CONCURRENT", 16usize)?.max(1);
        c.host_op_deadline = Duration::from_secs(num("HOODY_HOST_OP_DEADLINE_SECS", 20)?.clamp(1, 3600));
        c.host_lock_wait = Duration::from_secs(num("HOODY_HOST_LOCK_WAIT_SECS", 5)?.clamp(1, 600));
        c.principal_cache_ttl = Duration::from_millis(num("HOODY_PRINCIPAL_CACHE_MS", 1000)?.min(1000));
        c.runtime_cache_ttl = Duration::from_millis(num("HOODY_RUNTIME_CACHE_MS", 2000)?.min(60_000));
        c.ai_models_file = var("HOODY_AI_MODELS_FILE").map(PathBuf::from);
        c.check_timeouts()?;
        if let Some(v) = var("HOODY_DEFAULT_IMAGE") {
            c.default_image = v;
        }
        c.max_snapshots = num("HOODY_MAX_SNAPSHOTS", c.max_snapshots)?.max(0);
        if let Some(v) = var("HOODY_CONTAINERS_DOMAIN") {
            c.containers_domain = domain_name("HOODY_CONTAINERS_DOMAIN", &v)?;
        }
        c.reconcile_interval = Duration::from_secs(num("HOODY_RECONCILE_INTERVAL_SECS", 30)?.clamp(1, 86_400));
        c.warm_pool_interval =
            Duration::from_millis(num("HOODY_WARM_POOL_INTERVAL_MS", 2_000u64)?.clamp(50, 86_400_000));
        c.share_sweep_interval =
            Duration::from_millis(num("HOODY_SHARE_SWEEP_INTERVAL_MS", 15_000u64)?.clamp(50, 86_400_000));
        c.rental_sweep_interval =
            Duration::from_millis(num("HOODY_RENTAL_SWEEP_INTERVAL_MS", 60_000u64)?.clamp(50, 86_400_000));
        c.free_tier = !var("HOODY_FREE_TIER").is_some_and(|v| matches!(v.trim(), "0" | "false" | "off"));
        c.free_tier_invites = var("HOODY_FREE_TIER_INVITES").is_some_and(|v| matches!(v.trim(), "1" | "true" | "on"));
        c.device_flow = !var("HOODY_DEVICE_FLOW").is_some_and(|v| matches!(v.trim(), "0" | "false" | "off"));
        c.device_verification_url = var("HOODY_DEVICE_VERIFICATION_URL");
        c.audit_retention_days = num("HOODY_AUDIT_RETENTION_DAYS", c.audit_retention_days)?.max(1);
        c.money = Money::from_env()?;
        c.sign_responses = !var("HOODY_SIGN_RESPONSES").is_some_and(|v| matches!(v.trim(), "0" | "false" | "off"));
        c.activity_retention_days = num("HOODY_ACTIVITY_RETENTION_DAYS", c.activity_retention_days)?.max(1);
        c.writeback_interval = Duration::from_millis(num("HOODY_WRITEBACK_INTERVAL_MS", 1000)?.clamp(10, 60_000));
        let social = |name: &str| -> anyhow::Result<Option<i64>> {
            var(&format!("HOODY_SOCIAL_{name}"))
                .map(|v| v.trim().parse().map_err(|_| anyhow::anyhow!("HOODY_SOCIAL_{name}={v:?} is not a number")))
                .transpose()
        };
        c.social = SocialStats {
            github: social("GITHUB")?,
            telegram: social("TELEGRAM")?,
            discord: social("DISCORD")?,
            discord_online: social("DISCORD_ONLINE")?,
            x: social("X")?,
            linkedin: social("LINKEDIN")?,
        };
        for (prefix, q) in [("HOODY_QUOTA", &mut c.quotas.standard), ("HOODY_FREE_QUOTA", &mut c.quotas.free)] {
            q.projects = num(&format!("{prefix}_PROJECTS"), q.projects)?.max(0);
            q.containers = num(&format!("{prefix}_CONTAINERS"), q.containers)?.max(0);
            q.snapshots = num(&format!("{prefix}_SNAPSHOTS"), q.snapshots)?.max(0);
            q.tokens = num(&format!("{prefix}_TOKENS"), q.tokens)?.max(0);
            q.firewall_rules = num(&format!("{prefix}_FIREWALL_RULES"), q.firewall_rules)?.max(0);
            q.aliases = num(&format!("{prefix}_ALIASES"), q.aliases)?.max(0);
            q.shares = num(&format!("{prefix}_SHARES"), q.shares)?.max(0);
        }
        if let Some(v) = var("HOODY_FIREWALL_SUBNETS") {
            let net: ipnet::Ipv4Net =
                v.trim().parse().map_err(|_| anyhow::anyhow!("HOODY_FIREWALL_SUBNETS is not an IPv4 CIDR"))?;
            if !(8..=28).contains(&net.prefix_len()) {
                bail!("HOODY_FIREWALL_SUBNETS must be between a /8 and a /28");
            }
            c.firewall_subnets = net.trunc();
        }
        c.firewall_max_rules = num("HOODY_FIREWALL_MAX_RULES", c.firewall_max_rules)?.clamp(1, 1000);
        if let Some(v) = var("HOODY_METRICS_ALLOW") {
            c.metrics_allow = parse_cidrs(&v)?;
        }
        if let Some(v) = var("HOODY_METRICS_TOKEN") {
            let v = v.trim().to_owned();
            if v.len() < 16 {
                bail!("HOODY_METRICS_TOKEN must be at least 16 characters");
            }
            c.metrics_token = Some(Secret::new(v));
        }
        c.mail_max_attempts = num("HOODY_MAIL_MAX_ATTEMPTS", c.mail_max_attempts)?.clamp(1, 100);
        c.writeback_hold_rows = num("HOODY_WRITEBACK_HOLD_ROWS", c.writeback_hold_rows)?;
        let l = &mut c.limits;
        l.signup_per_hour = num("HOODY_LIMIT_SIGNUP_PER_HOUR", l.signup_per_hour)?;
        l.login_failures_per_ip = num("HOODY_LIMIT_LOGIN_FAILURES_PER_IP", l.login_failures_per_ip)?;
        l.login_failures_per_account = num("HOODY_LIMIT_LOGIN_FAILURES_PER_ACCOUNT", l.login_failures_per_account)?;
        l.refresh_per_window = num("HOODY_LIMIT_REFRESH", l.refresh_per_window)?;
        l.mail_per_address = num("HOODY_LIMIT_MAIL_PER_ADDRESS", l.mail_per_address)?;
        l.email_actions_per_ip = num("HOODY_LIMIT_EMAIL_ACTIONS_PER_IP", l.email_actions_per_ip)?;
        l.otp_failures = num("HOODY_LIMIT_OTP_FAILURES", l.otp_failures)?.max(1);
        l.device_code_failures_per_ip = num("HOODY_LIMIT_DEVICE_CODE_FAILURES_PER_IP", l.device_code_failures_per_ip)?;
        l.device_requests_per_ip = num("HOODY_LIMIT_DEVICE_REQUESTS_PER_IP", l.device_requests_per_ip)?;
        l.waitlist_per_ip = num("HOODY_LIMIT_WAITLIST_PER_IP", l.waitlist_per_ip)?;
        Ok(c)
    }

    /// The device verification page (`HOODY_DEVICE_VERIFICATION_URL`, else `<public URL>/device`).
    pub fn device_page(&self) -> String {
        self.device_verification_url.clone().unwrap_or_else(|| format!("{}/device", self.public_url))
    }
}

fn default_hash_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores / 2).max(1)
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A DNS name as a setting: lowercase labels of `a-z0-9-`, dot-separated, no scheme or port.
fn domain_name(name: &str, v: &str) -> anyhow::Result<String> {
    let v = v.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if v.len() > 200 || !v.split('.').all(label_ok) {
        bail!("{name} must be a domain name such as containers.example.com");
    }
    Ok(v)
}

fn num<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| anyhow::anyhow!("{name}={v:?} is not a number")),
    }
}

/// `10.0.0.0/8, 192.168.1.7` → networks; a bare address is a /32 (or /128).
pub fn parse_cidrs(s: &str) -> anyhow::Result<Vec<IpNet>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let net = match part.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => match part.parse::<std::net::IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => bail!("{part:?} is not an IP address or CIDR"),
            },
        };
        out.push(net);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let mut c = Config::with_data_dir(PathBuf::from("/tmp/x"));
        c.database_url = Some(Secret::new("postgres://hoody:db-pass-1@db/hoody".into()));
        c.smtp_url = Some(Secret::new("smtp://mailer:smtp-pass-2@mail:25".into()));
        c.jwt_secret = Some(Secret::new("jwt-secret-3-jwt-secret-3-jwt-secret-3".into()));
        c.secret_key = Some(Secret::new("aa".repeat(32)));
        c.signing_key = Some(Secret::new("bb".repeat(32)));
        c.github.client_secret = Some(Secret::new("gh-secret-4".into()));
        c.google.client_secret = Some(Secret::new("google-secret-5".into()));
        let text = format!("{c:?}");
        for secret in [
            "db-pass-1",
            "smtp-pass-2",
            "jwt-secret-3",
            &"aa".repeat(32),
            &"bb".repeat(32),
            "gh-secret-4",
            "google-secret-5",
        ] {
            assert!(!text.contains(secret), "{secret} in Debug");
        }
        assert!(text.contains("[redacted]"));
    }

    #[test]
    fn the_host_timeouts_must_fit_in_the_request_timeout() {
        let mut c = Config::with_data_dir(PathBuf::from("/tmp/x"));
        c.check_timeouts().expect("the defaults fit: 5 + 20 + 3 <= 30");
        c.host_op_deadline = Duration::from_secs(22);
        c.check_timeouts().expect("exactly the request timeout still fits");
        c.host_op_deadline = Duration::from_secs(23);
        let e = c.check_timeouts().unwrap_err().to_string();
        assert!(e.contains("(31 s)") && e.contains("(30 s)"), "{e}");
        c.request_timeout = Duration::from_secs(60);
        c.check_timeouts().expect("a longer request timeout makes room");
    }
}
