//! What a token may do, as asked for and as checked: field rules, templates, and attenuation
//! (a token minted or changed by another token never holds more than that token).

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;

use super::dto::{CreateIn, UpdateIn};
use crate::{
    api::fields,
    auth::{
        permissions::{self, PermSet},
        tokens::{parse_expiry, parse_ip_whitelist, whitelist_within, TokenRow},
    },
    error::{ApiError, Result},
};

/// Deepest chain of tokens minting tokens.
pub const MAX_DEPTH: i32 = 8;
pub const MAX_PUBLIC_STORAGE: usize = 64 * 1024;

/// Stored by `db::auth_tokens` (the columns a mint or an update sets); its rules are here.
pub use crate::db::auth_tokens::Grant;

impl Grant {
    pub fn from_create(input: &CreateIn, now: DateTime<Utc>) -> Result<Self> {
        let perms = match (&input.permission_template, &input.permissions) {
            (Some(name), _) => permissions::template(name).ok_or_else(|| {
                let names: Vec<&str> = permissions::TEMPLATES.iter().map(|(n, _)| *n).collect();
                ApiError::invalid("permission_template", format!("must be one of {}", names.join(", ")))
            })?,
            (None, Some(tree)) => PermSet::from_tree(tree),
            (None, None) => PermSet::default(),
        };
        Ok(Self {
            alias: match &input.alias {
                Some(a) => alias(a)?,
                None => random_alias(),
            },
            public_key: input.public_key.as_deref().map(public_key).transpose()?,
            public_storage: input.public_storage.clone().map(public_storage).transpose()?.flatten(),
            ip_whitelist: input.ip_whitelist.as_ref().map(parse_ip_whitelist).transpose()?.unwrap_or_default(),
            realm_ids: realm_list(input.realm_ids.as_deref().unwrap_or_default())?,
            allow_no_realm: input.allow_no_realm.unwrap_or(true),
            perms,
            vault_access: input.vault_access.unwrap_or(false),
            event_access: input.event_access.unwrap_or(true),
            deny_reauthorization: input.deny_reauthorization.unwrap_or(false),
            expires_at: input.expires_at.as_ref().map(|e| parse_expiry(e, now)).transpose()?,
        })
    }

    pub fn of(t: &TokenRow) -> Self {
        Self {
            alias: t.alias.clone(),
            public_key: t.public_key.clone(),
            public_storage: t.public_storage.clone(),
            ip_whitelist: t.ip_whitelist.clone(),
            realm_ids: t.realm_ids.clone(),
            allow_no_realm: t.allow_no_realm,
            perms: t.perms(),
            vault_access: t.vault_access,
            event_access: t.event_access,
            deny_reauthorization: t.deny_reauthorization,
            expires_at: t.expires_at,
        }
    }

    pub fn apply(&mut self, input: &UpdateIn, now: DateTime<Utc>) -> Result<()> {
        if let Some(a) = &input.alias {
            self.alias = alias(a)?;
        }
        if let Some(k) = &input.public_key {
            self.public_key = k.as_deref().map(public_key).transpose()?;
        }
        if let Some(s) = &input.public_storage {
            self.public_storage = s.clone().map(public_storage).transpose()?.flatten();
        }
        if let Some(w) = &input.ip_whitelist {
            self.ip_whitelist = parse_ip_whitelist(w)?;
        }
        if let Some(p) = &input.permissions {
            self.perms = PermSet::from_tree(p);
        }
        if let Some(r) = &input.realm_ids {
            self.realm_ids = realm_list(r)?;
        }
        if let Some(v) = input.allow_no_realm {
            self.allow_no_realm = v;
        }
        if let Some(v) = input.vault_access {
            self.vault_access = v;
        }
        if let Some(v) = input.event_access {
            self.event_access = v;
        }
        if let Some(e) = &input.expires_at {
            self.expires_at = e.as_ref().map(|e| parse_expiry(e, now)).transpose()?;
        }
        Ok(())
    }

    /// True when this grant (a token after an update) could do anything `before` could not:
    /// more permissions, other realms, realm-less use newly allowed, more addresses, a later or
    /// no expiry, vault or event access turned on, or another public key or public storage (what
    /// the token asserts to others). The 2FA token gate guards exactly these; an update that only
    /// narrows (disabling included) needs no OTP.
    pub fn widens(&self, before: &Grant) -> bool {
        let mut realms = self.realm_ids.clone();
        let mut realms_before = before.realm_ids.clone();
        realms.sort();
        realms_before.sort();
        let later_expiry = match (self.expires_at, before.expires_at) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(after), Some(limit)) => after > limit,
        };
        !self.perms.beyond(before.perms).is_empty()
            || realms != realms_before
            || (self.allow_no_realm && !before.allow_no_realm)
            || !whitelist_within(&self.ip_whitelist, &before.ip_whitelist)
            || later_expiry
            || (self.vault_access && !before.vault_access)
            || (self.event_access && !before.event_access)
            || self.public_key != before.public_key
            || self.public_storage != before.public_storage
    }

    /// 403 unless this grant stays within what `creator` holds.
    pub fn within(&self, creator: &TokenRow) -> Result<()> {
        let mut over = Vec::new();
        let extra = self.perms.beyond(creator.perms());
        if !extra.is_empty() {
            over.push(format!("permissions {}", extra.join(", ")));
        }
        if creator.restricted()
            && (self.realm_ids.is_empty() || !self.realm_ids.iter().all(|r| creator.realm_ids.contains(r)))
        {
            over.push("realms outside the creator's".into());
        }
        if self.allow_no_realm && !creator.allow_no_realm {
            over.push("allow_no_realm".into());
        }
        if !whitelist_within(&self.ip_whitelist, &creator.ip_whitelist) {
            over.push("addresses outside the creator's ip_whitelist".into());
        }
        if let Some(limit) = creator.expires_at {
            if self.expires_at.is_none_or(|e| e > limit) {
                over.push("an expiry later than the creator's".into());
            }
        }
        if self.vault_access && !creator.vault_access {
            over.push("vault_access".into());
        }
        if self.event_access && !creator.event_access {
            over.push("event_access".into());
        }
        if over.is_empty() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "exceeds_creator",
                format!("A token cannot grant more than it holds: {}", over.join("; ")),
            ))
        }
    }
}

/// A token may mint tokens only when it was not created with `deny_reauthorization` and the
/// chain is not too deep.
pub fn may_mint(creator: &TokenRow) -> Result<()> {
    if creator.deny_reauthorization {
        return Err(ApiError::forbidden("reauthorization_denied", "This auth token may not create other tokens"));
    }
    if creator.delegation_depth + 1 > MAX_DEPTH {
        return Err(ApiError::forbidden(
            "delegation_too_deep",
            format!("Tokens may be chained at most {MAX_DEPTH} deep"),
        ));
    }
    Ok(())
}

pub fn alias(a: &str) -> Result<String> {
    Ok(fields::alias("alias", a)?)
}

pub fn public_key(k: &str) -> Result<String> {
    Ok(fields::public_key("public_key", k)?)
}

/// An object (or null) of at most 64 KB as JSON.
pub fn public_storage(v: serde_json::Value) -> Result<Option<serde_json::Value>> {
    if v.is_null() {
        return Ok(None);
    }
    fields::json_object("public_storage", &v, MAX_PUBLIC_STORAGE)?;
    Ok(Some(v))
}

pub fn realm_id(r: &str) -> Result<String> {
    if crate::db::is_id(r) {
        Ok(r.to_owned())
    } else {
        Err(ApiError::invalid("realm_id", "must be 24 lowercase hex characters"))
    }
}

pub(crate) fn realm_list(ids: &[String]) -> Result<Vec<String>> {
    if ids.len() > 100 {
        return Err(ApiError::invalid("realm_ids", "at most 100 realms"));
    }
    let mut out = Vec::new();
    for r in ids {
        let r = realm_id(r).map_err(|_| ApiError::invalid("realm_ids", format!("{r:?} is not a realm id (24 hex)")))?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly", "kind", "lively", "lucky", "mighty",
    "nimble", "proud", "quick", "quiet", "sharp", "shiny", "swift", "witty",
];
const ANIMALS: &[&str] = &[
    "badger", "beaver", "dolphin", "eagle", "falcon", "fox", "gecko", "heron", "koala", "lynx", "marten", "otter",
    "owl", "panda", "puffin", "raven", "seal", "tiger", "walrus", "wolf",
];

pub fn random_alias() -> String {
    let mut rng = rand::thread_rng();
    format!(
        "{}-{}",
        ADJECTIVES.choose(&mut rng).copied().unwrap_or("quick"),
        ANIMALS.choose(&mut rng).copied().unwrap_or("fox")
    )
}
