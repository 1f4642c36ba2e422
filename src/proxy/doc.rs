//! One permission document: its groups, its program rules per group, the default for requests
//! no rule decides, the proxy switch and (for a container) its hooks. Built from a body with
//! every bad field named; stored as the JSON `Document` serializes to.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::{
    group::{Group, GroupIn},
    group_name_ok,
    hooks::{check_service, Hook, HookIn},
    BOOL_ONLY, MAX_GROUPS, MAX_HOOKS, MAX_HOOKS_PER_SERVICE, MAX_PORTS, MAX_PROGRAMS,
};
use crate::error::FieldError;

/// The layout of a stored document.
pub const SCHEMA_VERSION: u32 = 1;

/// Whose document: a container's (in its project) or a project's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Container { project_id: String, container_id: String },
    Project { project_id: String },
}

impl Scope {
    /// The `document.kind` it is stored under.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Container { .. } => "proxy.container",
            Self::Project { .. } => "proxy.project",
        }
    }

    /// The `document.owner_key`: the container's or the project's id.
    pub fn key(&self) -> &str {
        match self {
            Self::Container { container_id, .. } => container_id,
            Self::Project { project_id } => project_id,
        }
    }

    pub fn project_id(&self) -> &str {
        match self {
            Self::Container { project_id, .. } | Self::Project { project_id } => project_id,
        }
    }

    pub fn container_id(&self) -> Option<&str> {
        match self {
            Self::Container { container_id, .. } => Some(container_id),
            Self::Project { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ProxyPolicy)]
pub enum Policy {
    Allow,
    Deny,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }
}

/// A document as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub schema_version: u32,
    pub groups: BTreeMap<String, Group>,
    pub permissions: BTreeMap<String, BTreeMap<String, Value>>,
    pub default: Policy,
    /// `None`: left unset (a container then follows its project's switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_proxy: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hooks: BTreeMap<String, Vec<Hook>>,
}

/// The body of a whole-document write, either scope's fields.
pub struct Parts {
    pub groups: BTreeMap<String, GroupIn>,
    pub permissions: BTreeMap<String, BTreeMap<String, Value>>,
    pub default: Option<String>,
    pub enable_proxy: Option<bool>,
    pub hooks: Option<BTreeMap<String, Vec<HookIn>>>,
}

/// What one document says once validated, or every field that is wrong.
pub type Built = Result<Document, Vec<FieldError>>;

fn port(v: &Value) -> bool {
    v.as_u64().is_some_and(|n| (1..=65_535).contains(&n))
}

fn port_text(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| (1..=65_535).contains(n))
}

/// `*`, or ports and instances as `80`, `8000-8100` or a comma list of those.
fn port_list(s: &str) -> bool {
    s == "*"
        || (s.len() <= 4096
            && s.split(',').all(|part| match part.trim().split_once('-') {
                None => port_text(part.trim()).is_some(),
                Some((a, b)) => matches!((port_text(a), port_text(b)), (Some(a), Some(b)) if a <= b),
            }))
}

/// A program's rule: `true`/`false`, a port or instance, a list of them, a text list
/// (`"80,8000-8100"`) or `"*"`; only `true`/`false` for files, services, notifications, exec.
pub fn check_access(program: &str, v: &Value) -> Result<(), &'static str> {
    if v.is_boolean() {
        return Ok(());
    }
    if BOOL_ONLY.contains(&program) {
        return Err("takes only true or false");
    }
    let ok = match v {
        Value::Number(_) => port(v),
        Value::Array(a) => !a.is_empty() && a.len() <= MAX_PORTS && a.iter().all(port),
        Value::String(s) => port_list(s),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("must be true/false, a port 1-65535, a list of ports, \"80,8000-8100\" or \"*\"")
    }
}

impl Document {
    /// The start of a document a fine-grained write makes: nothing allowed but what it adds
    /// (a written document without a default denies).
    pub fn empty() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            groups: BTreeMap::new(),
            permissions: BTreeMap::new(),
            default: Policy::Deny,
            enable_proxy: None,
            hooks: BTreeMap::new(),
        }
    }

    /// What no document means: open access.
    pub fn open() -> Self {
        Self { default: Policy::Allow, ..Self::empty() }
    }

    /// The stored body read back (`None`: never written, or deleted).
    pub fn stored(body: Option<&Value>) -> Option<Self> {
        body.and_then(|b| serde_json::from_value(b.clone()).ok())
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A whole document from a body, every bad field named. The switch is stored explicitly
    /// (`true` when the body leaves it out).
    pub fn build(p: Parts) -> Built {
        let mut errors = vec![];
        let mut doc = Self::empty();
        if p.groups.len() > MAX_GROUPS {
            errors.push(FieldError::new("groups", format!("at most {MAX_GROUPS} groups")));
        }
        let named: BTreeSet<String> = p.groups.keys().cloned().collect();
        for (name, g) in p.groups {
            let at = format!("groups.{name}");
            if !group_name_ok(&name) {
                errors.push(FieldError::new(at, "a group name is 1-50 of A-Z a-z 0-9 _ -"));
                continue;
            }
            match g.into_group(&at) {
                Ok(g) => {
                    doc.groups.insert(name, g);
                }
                Err(e) => errors.extend(e),
            }
        }
        for (group, programs) in p.permissions {
            let at = format!("permissions.{group}");
            if !named.contains(&group) {
                errors.push(FieldError::new(&at, "names no group of the document"));
                continue;
            }
            if programs.len() > MAX_PROGRAMS {
                errors.push(FieldError::new(&at, format!("at most {MAX_PROGRAMS} programs")));
            }
            for (program, access) in &programs {
                let at = format!("{at}.{program}");
                if let Err(e) = super::check_name(program, &at) {
                    errors.push(e);
                } else if let Err(m) = check_access(program, access) {
                    errors.push(FieldError::new(at, m));
                }
            }
            doc.permissions.insert(group, programs);
        }
        match p.default.as_deref().map(Policy::parse) {
            None => {}
            Some(Some(d)) => doc.default = d,
            Some(None) => errors.push(FieldError::new("default", "must be allow or deny")),
        }
        doc.enable_proxy = Some(p.enable_proxy.unwrap_or(true));
        if let Some(hooks) = p.hooks {
            let names: BTreeSet<String> = doc.groups.keys().cloned().collect();
            let known = |g: &str| names.contains(g);
            let mut ids = BTreeSet::new();
            let total: usize = hooks.values().map(Vec::len).sum();
            if total > MAX_HOOKS {
                errors.push(FieldError::new("hooks", format!("at most {MAX_HOOKS} hooks in a document")));
            }
            for (service, list) in hooks {
                let at = format!("hooks.{service}");
                if let Err(e) = check_service(&service, &at) {
                    errors.push(e);
                    continue;
                }
                if list.len() > MAX_HOOKS_PER_SERVICE {
                    errors.push(FieldError::new(&at, format!("at most {MAX_HOOKS_PER_SERVICE} hooks per service")));
                }
                let mut kept = vec![];
                for (i, h) in list.into_iter().enumerate() {
                    let at = format!("{at}[{i}].");
                    // A hook's place is its index here: a `position` a read added is not used.
                    match h.into_hook(&at, Some(&known)) {
                        Ok(h) if !ids.insert(h.id.clone()) => {
                            errors.push(FieldError::new(format!("{at}id"), "is used by another hook"));
                        }
                        Ok(h) => kept.push(h),
                        Err(e) => errors.extend(e),
                    }
                }
                if !kept.is_empty() {
                    doc.hooks.insert(service, kept);
                }
            }
        }
        if errors.is_empty() {
            Ok(doc)
        } else {
            Err(errors)
        }
    }

    /// Add or replace a group; `true` when it is new.
    pub fn set_group(&mut self, name: &str, g: Group) -> Result<bool, FieldError> {
        let new = !self.groups.contains_key(name);
        if new && self.groups.len() >= MAX_GROUPS {
            return Err(FieldError::new("groupName", format!("a document holds at most {MAX_GROUPS} groups")));
        }
        self.groups.insert(name.to_owned(), g);
        Ok(new)
    }

    /// Remove a group, its program rules and its name from hooks' `applies_to`; `false` when
    /// there was no such group.
    pub fn remove_group(&mut self, name: &str) -> bool {
        if self.groups.remove(name).is_none() {
            return false;
        }
        self.permissions.remove(name);
        for hook in self.hooks.values_mut().flatten() {
            if let Some(Value::Array(groups)) = hook.applies_to.as_mut().and_then(|a| a.get_mut("groups")) {
                groups.retain(|g| g.as_str() != Some(name));
            }
        }
        true
    }

    /// Set one program's rule for a group of the document.
    pub fn set_permission(&mut self, group: &str, program: &str, access: Value) -> Result<(), FieldError> {
        if !self.groups.contains_key(group) {
            return Err(FieldError::new("groupName", "names no group of the document (add the group first)"));
        }
        super::check_name(program, "program")?;
        check_access(program, &access).map_err(|m| FieldError::new("access", m))?;
        let rules = self.permissions.entry(group.to_owned()).or_default();
        if !rules.contains_key(program) && rules.len() >= MAX_PROGRAMS {
            return Err(FieldError::new("program", format!("a group holds at most {MAX_PROGRAMS} program rules")));
        }
        rules.insert(program.to_owned(), access);
        Ok(())
    }

    /// Remove every program rule of a group; `false` when it had none.
    pub fn remove_permissions(&mut self, group: &str) -> bool {
        self.permissions.remove(group).is_some()
    }

    /// Remove one program rule; `false` when there was none.
    pub fn remove_permission(&mut self, group: &str, program: &str) -> bool {
        let Some(rules) = self.permissions.get_mut(group) else { return false };
        let removed = rules.remove(program).is_some();
        if rules.is_empty() {
            self.permissions.remove(group);
        }
        removed
    }

    /// A hook and its position.
    pub fn hook(&self, service: &str, id: &str) -> Option<(usize, &Hook)> {
        self.hooks.get(service)?.iter().enumerate().find(|(_, h)| h.id == id)
    }

    /// Insert a hook at `position` (the end when `None`); its position.
    pub fn insert_hook(&mut self, service: &str, hook: Hook, position: Option<usize>) -> Result<usize, FieldError> {
        let total: usize = self.hooks.values().map(Vec::len).sum();
        if total >= MAX_HOOKS {
            return Err(FieldError::new("hooks", format!("a document holds at most {MAX_HOOKS} hooks")));
        }
        let list = self.hooks.entry(service.to_owned()).or_default();
        if list.len() >= MAX_HOOKS_PER_SERVICE {
            return Err(FieldError::new("service", format!("a service holds at most {MAX_HOOKS_PER_SERVICE} hooks")));
        }
        let at = position.unwrap_or(list.len());
        if at > list.len() {
            return Err(FieldError::new("position", format!("must be 0-{} (the list's length)", list.len())));
        }
        list.insert(at, hook);
        Ok(at)
    }

    /// Replace a hook in place (its id and position kept); its position.
    pub fn replace_hook(&mut self, service: &str, id: &str, mut hook: Hook) -> Option<usize> {
        let list = self.hooks.get_mut(service)?;
        let at = list.iter().position(|h| h.id == id)?;
        hook.id = id.to_owned();
        list[at] = hook;
        Some(at)
    }

    /// Move a hook to `position`; `Ok(None)` when there is no such hook.
    pub fn move_hook(&mut self, service: &str, id: &str, position: usize) -> Result<Option<usize>, FieldError> {
        let Some(list) = self.hooks.get_mut(service) else { return Ok(None) };
        let Some(from) = list.iter().position(|h| h.id == id) else { return Ok(None) };
        if position >= list.len() {
            return Err(FieldError::new("position", format!("must be 0-{}", list.len() - 1)));
        }
        let h = list.remove(from);
        list.insert(position, h);
        Ok(Some(position))
    }

    /// Remove a hook; `false` when there was none.
    pub fn remove_hook(&mut self, service: &str, id: &str) -> bool {
        let Some(list) = self.hooks.get_mut(service) else { return false };
        let before = list.len();
        list.retain(|h| h.id != id);
        let removed = list.len() < before;
        if list.is_empty() {
            self.hooks.remove(service);
        }
        removed
    }

    /// Remove a service's hooks; how many there were.
    pub fn clear_hooks(&mut self, service: &str) -> usize {
        self.hooks.remove(service).map_or(0, |l| l.len())
    }

    /// The services some permission or hook names.
    pub fn services(&self) -> Vec<String> {
        let mut s: BTreeSet<String> = self.permissions.values().flat_map(|p| p.keys().cloned()).collect();
        s.extend(self.hooks.keys().cloned());
        s.into_iter().collect()
    }

    /// The groups as a reader sees them: with their secrets only for one who may edit.
    pub fn groups_view(&self, secrets: bool) -> Value {
        let map: Map<String, Value> = self
            .groups
            .iter()
            .map(|(k, g)| {
                (k.clone(), if secrets { serde_json::to_value(g).unwrap_or(Value::Null) } else { g.redacted() })
            })
            .collect();
        Value::Object(map)
    }

    /// The hooks by service, each with its `position`.
    pub fn hooks_view(&self) -> Value {
        let map: Map<String, Value> = self
            .hooks
            .iter()
            .map(|(s, list)| (s.clone(), Value::Array(list.iter().enumerate().map(|(i, h)| hook_view(h, i)).collect())))
            .collect();
        Value::Object(map)
    }
}

/// A hook with its place in the list.
pub fn hook_view(h: &Hook, position: usize) -> Value {
    let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
    v["position"] = json!(position);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: Value) -> Parts {
        Parts {
            groups: serde_json::from_value(v["groups"].clone()).unwrap_or_default(),
            permissions: serde_json::from_value(v["permissions"].clone()).unwrap_or_default(),
            default: v["default"].as_str().map(str::to_owned),
            enable_proxy: v["enable_proxy"].as_bool(),
            hooks: serde_json::from_value(v["hooks"].clone()).ok(),
        }
    }

    #[test]
    fn a_whole_document_is_checked_field_by_field() {
        let e = Document::build(parts(json!({
            "groups": {"ok": {"type": "ip", "range": "10.0.0.0/8"}, "bad name!": {"type": "ip", "range": "1.2.3.4/32"}},
            "permissions": {"ok": {"files": 3, "http": [80, 443], "ssh": "22,2200-2210"}, "ghost": {"http": true}},
            "default": "maybe",
            "hooks": {"logs": [], "http": [{"match": {"method": "FETCH"}, "script": {}}]}
        })))
        .unwrap_err();
        let paths: BTreeSet<_> = e.iter().map(|f| f.path.as_str()).collect();
        for p in [
            "groups.bad name!",
            "permissions.ok.files",
            "permissions.ghost",
            "default",
            "hooks.logs",
            "hooks.http[0].match.method",
            "hooks.http[0].script.path",
        ] {
            assert!(paths.contains(p), "{p} in {paths:?}");
        }
        assert!(!paths.contains("permissions.ok.http") && !paths.contains("permissions.ok.ssh"), "{paths:?}");
    }

    #[test]
    fn defaults_are_deny_and_an_explicit_switch() {
        let d = Document::build(parts(json!({"groups": {}, "permissions": {}}))).unwrap();
        assert_eq!((d.default, d.enable_proxy), (Policy::Deny, Some(true)));
        assert_eq!(Document::stored(Some(&d.to_json())), Some(d));
    }

    #[test]
    fn removing_a_group_takes_its_rules_and_hook_references() {
        let mut d = Document::build(parts(json!({
            "groups": {"a": {"type": "ip", "range": "10.0.0.0/8"}, "b": {"type": "ip", "range": "10.0.0.0/8"}},
            "permissions": {"a": {"http": true}},
            "hooks": {"http": [{"match": {}, "script": {"path": "/h.js"}, "applies_to": {"groups": ["a", "b"]}}]}
        })))
        .unwrap();
        assert!(d.remove_group("a"));
        assert!(!d.permissions.contains_key("a"));
        assert_eq!(d.hooks["http"][0].applies_to, Some(json!({"groups": ["b"]})));
        assert!(!d.remove_group("a"));
        assert!(d.set_permission("a", "http", json!(true)).is_err());
    }

    #[test]
    fn access_rules() {
        for ok in [json!(true), json!(8080), json!([1, 65535]), json!("*"), json!("80, 8000-8100")] {
            assert_eq!(check_access("http", &ok), Ok(()), "{ok}");
        }
        for bad in
            [json!(0), json!(70000), json!([]), json!("90-80"), json!("x"), json!(null), json!({"a": 1}), json!(1.5)]
        {
            assert!(check_access("http", &bad).is_err(), "{bad}");
        }
        assert!(check_access("exec", &json!("*")).is_err());
    }
}
