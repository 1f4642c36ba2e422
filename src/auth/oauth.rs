//! The provider half of OAuth sign-in: exchange the code, read the profile. Providers are
//! configured by URL, so tests run the whole flow against a provider on loopback.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;

use crate::config::OAuthProvider;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Github,
    Google,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Google => "google",
        }
    }
}

/// What we keep of a provider's profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The provider's stable user id; never empty or zero.
    pub id: String,
    /// A verified address, if the provider vouches for one.
    pub verified_email: Option<String>,
    pub login: Option<String>,
    pub avatar_url: Option<String>,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("hoody-api")
        .build()
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
}

/// Exchange an authorization code for the provider's access token.
pub async fn exchange_code(
    http: &reqwest::Client,
    p: &OAuthProvider,
    code: &str,
    redirect_uri: &str,
) -> anyhow::Result<String> {
    let (Some(id), Some(secret)) = (&p.client_id, &p.client_secret) else { bail!("provider not configured") };
    let reply: TokenReply = http
        .post(&p.token_url)
        .header("accept", "application/json")
        .form(&[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .context("token endpoint unreachable")?
        .error_for_status()
        .context("token endpoint refused")?
        .json()
        .await
        .context("token reply is not JSON")?;
    reply.access_token.filter(|t| !t.is_empty()).context("no access_token in the reply")
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    http.get(url)
        .bearer_auth(token)
        .header("accept", "application/json")
        .send()
        .await
        .context("profile endpoint unreachable")?
        .error_for_status()
        .context("profile endpoint refused")?
        .json()
        .await
        .context("profile reply is not JSON")
}

/// A provider id: a non-empty string or a positive number. Missing, empty or 0 is refused.
fn provider_id(v: &Value) -> anyhow::Result<String> {
    let id = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if id.is_empty() || id == "0" {
        bail!("the provider profile has no usable id");
    }
    Ok(id)
}

pub async fn profile(
    http: &reqwest::Client,
    which: Provider,
    p: &OAuthProvider,
    token: &str,
) -> anyhow::Result<Profile> {
    let user = get_json(http, &p.user_url, token).await?;
    match which {
        Provider::Github => {
            let id = provider_id(&user["id"])?;
            let mut verified_email = None;
            if let Some(url) = &p.emails_url {
                let emails = get_json(http, url, token).await?;
                verified_email = emails.as_array().into_iter().flatten().find_map(|e| {
                    (e["primary"] == true && e["verified"] == true)
                        .then(|| e["email"].as_str().map(str::to_lowercase))
                        .flatten()
                });
            }
            Ok(Profile {
                id,
                verified_email,
                login: user["login"].as_str().map(str::to_owned),
                avatar_url: user["avatar_url"].as_str().map(str::to_owned),
            })
        }
        Provider::Google => Ok(Profile {
            id: provider_id(&user["sub"])?,
            verified_email: (user["email_verified"] == true)
                .then(|| user["email"].as_str().map(str::to_lowercase))
                .flatten(),
            login: None,
            avatar_url: user["picture"].as_str().map(str::to_owned),
        }),
    }
}

/// GitHub: does the signed-in user star `owner/repo`? (204 yes, 404 no.)
pub async fn starred(http: &reqwest::Client, p: &OAuthProvider, token: &str) -> anyhow::Result<bool> {
    let (Some(base), Some(repo)) = (&p.starred_url, &p.star_repo) else { bail!("star check not configured") };
    let res = http
        .get(format!("{}/{repo}", base.trim_end_matches('/')))
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .send()
        .await
        .context("star endpoint unreachable")?;
    match res.status().as_u16() {
        204 => Ok(true),
        404 => Ok(false),
        s => bail!("star endpoint answered {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_or_zero_ids_are_refused() {
        for bad in [Value::Null, Value::from(""), Value::from(0), Value::from("0"), Value::from(" "), Value::from(true)]
        {
            assert!(provider_id(&bad).is_err(), "{bad}");
        }
        assert_eq!(provider_id(&Value::from(583231)).unwrap(), "583231");
        assert_eq!(
            provider_id(&Value::from("10769150350006150715113082367")).unwrap(),
            "10769150350006150715113082367"
        );
    }
}
