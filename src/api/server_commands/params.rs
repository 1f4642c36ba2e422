//! A command's parameters checked against its schema and rendered into its argv. Each template
//! element that is exactly `{name}` becomes the parameter's value as one argv element; nothing
//! is ever joined into a shell string. A string value never starts with `-` (it could not be
//! told from an option), has no control characters and matches the schema's `pattern` (a
//! PostgreSQL regular expression, checked by the database).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{
    db::server_commands::{self, CommandRow},
    error::{ApiError, FieldError},
};

/// The longest string value.
const MAX_STRING: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    String,
    Integer,
    Boolean,
}

/// One parameter of a command's `parameter_schema`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(rename = "type")]
    kind: Kind,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    choices: Option<Vec<Value>>,
    /// Integers: the least value; strings: the least length.
    min: Option<i64>,
    /// Integers: the greatest value; strings: the greatest length.
    max: Option<i64>,
    #[serde(default)]
    required: bool,
    default: Option<Value>,
    #[allow(dead_code)]
    description: Option<String>,
}

/// A run's parameters as checked (defaults applied) and the argv they make.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub parameters: Value,
    pub argv: Vec<String>,
}

impl Rendered {
    /// What a confirmation is bound to: the command and exactly this argv.
    pub fn hash(&self, command_id: &str) -> Vec<u8> {
        let mut h = Sha256::new();
        for part in std::iter::once(command_id).chain(self.argv.iter().map(String::as_str)) {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().to_vec()
    }
}

fn schema_of(cmd: &CommandRow) -> Result<BTreeMap<String, Spec>, ApiError> {
    serde_json::from_value(cmd.parameter_schema.clone())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("command {} has a bad parameter schema: {e}", cmd.slug)))
}

/// The parameter an argv element stands for.
fn placeholder(element: &str) -> Option<&str> {
    element.strip_prefix('{')?.strip_suffix('}')
}

/// Check one value against its spec; its argv text, or why not.
fn value_text(spec: &Spec, v: &Value) -> Result<String, String> {
    let text = match (spec.kind, v) {
        (Kind::String, Value::String(s)) => {
            let len = s.chars().count() as i64;
            if s.is_empty() || len > MAX_STRING as i64 {
                return Err(format!("must be 1–{MAX_STRING} characters"));
            }
            if s.chars().any(char::is_control) {
                return Err("must not contain control characters".into());
            }
            if s.starts_with('-') {
                return Err("must not start with -".into());
            }
            if spec.min.is_some_and(|m| len < m) || spec.max.is_some_and(|m| len > m) {
                return Err(format!(
                    "must be {}–{} characters",
                    spec.min.unwrap_or(1),
                    spec.max.unwrap_or(MAX_STRING as i64)
                ));
            }
            s.clone()
        }
        (Kind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            let Some(i) = n.as_i64() else { return Err("is too large".into()) };
            if spec.min.is_some_and(|m| i < m) || spec.max.is_some_and(|m| i > m) {
                let lo = spec.min.map_or("any".into(), |m| m.to_string());
                let hi = spec.max.map_or("any".into(), |m| m.to_string());
                return Err(format!("must be an integer from {lo} to {hi}"));
            }
            if i < 0 {
                // An argv element starting with `-`: refused like a string's.
                return Err("must not be negative".into());
            }
            i.to_string()
        }
        (Kind::Boolean, Value::Bool(b)) => b.to_string(),
        (Kind::String, _) => return Err("must be a string".into()),
        (Kind::Integer, _) => return Err("must be an integer".into()),
        (Kind::Boolean, _) => return Err("must be a boolean".into()),
    };
    if let Some(choices) = &spec.choices {
        if !choices.contains(v) {
            let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
            return Err(format!("must be one of {}", list.join(", ")));
        }
    }
    Ok(text)
}

/// Check `given` (the request's `parameters`) against the command's schema; the checked values
/// and the argv, or 422 naming each bad parameter (`parameters.<name>`). Nothing is stored.
pub async fn render(db: &sqlx::PgPool, cmd: &CommandRow, given: Option<&Value>) -> Result<Rendered, ApiError> {
    let schema = schema_of(cmd)?;
    let empty = Map::new();
    let given = match given {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ApiError::invalid("parameters", "must be an object of parameter values")),
    };
    let mut errors = Vec::new();
    for k in given.keys().filter(|k| !schema.contains_key(*k)) {
        let takes = if schema.is_empty() {
            "this command takes no parameters".to_owned()
        } else {
            format!("unknown parameter; this command takes {}", schema.keys().cloned().collect::<Vec<_>>().join(", "))
        };
        errors.push(FieldError::new(format!("parameters.{k}"), takes));
    }
    let mut values = BTreeMap::new();
    let mut checked = Map::new();
    let (mut pattern_names, mut pattern_values, mut patterns) = (Vec::new(), Vec::new(), Vec::new());
    for (name, spec) in &schema {
        let path = format!("parameters.{name}");
        let Some(v) = given.get(name).or(spec.default.as_ref()) else {
            if spec.required {
                errors.push(FieldError::new(path, "is required"));
            }
            continue;
        };
        match value_text(spec, v) {
            Ok(text) => {
                if let (Some(p), Kind::String) = (&spec.pattern, spec.kind) {
                    pattern_names.push(name.clone());
                    pattern_values.push(text.clone());
                    patterns.push(p.clone());
                }
                checked.insert(name.clone(), v.clone());
                values.insert(name.clone(), text);
            }
            Err(why) => errors.push(FieldError::new(path, why)),
        }
    }
    if !patterns.is_empty() {
        for i in server_commands::pattern_misses(db, &pattern_values, &patterns).await? {
            let i = usize::try_from(i).unwrap_or(usize::MAX);
            if let (Some(name), Some(p)) = (pattern_names.get(i), patterns.get(i)) {
                errors.push(FieldError::new(format!("parameters.{name}"), format!("must match {p}")));
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        return Err(ApiError::validation(errors));
    }
    let mut argv = Vec::with_capacity(cmd.argv.len());
    for element in &cmd.argv {
        match placeholder(element) {
            Some(name) if schema.contains_key(name) => {
                // An optional parameter without a value leaves its element out.
                if let Some(v) = values.get(name) {
                    argv.push(v.clone());
                }
            }
            Some(name) => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "command {} uses the undeclared parameter {name}",
                    cmd.slug
                )))
            }
            None => argv.push(element.clone()),
        }
    }
    Ok(Rendered { parameters: Value::Object(checked), argv })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(v: Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn values_are_typed_and_never_look_like_options() {
        let s = spec(json!({"type": "string"}));
        assert_eq!(value_text(&s, &json!("/host")).unwrap(), "/host");
        assert!(value_text(&s, &json!("-rf")).is_err());
        assert!(value_text(&s, &json!("")).is_err());
        assert!(value_text(&s, &json!("a\nb")).is_err());
        assert!(value_text(&s, &json!(3)).is_err());
        let i = spec(json!({"type": "integer", "min": 1, "max": 10}));
        assert_eq!(value_text(&i, &json!(5)).unwrap(), "5");
        assert!(value_text(&i, &json!(11)).is_err());
        assert!(value_text(&i, &json!(1.5)).is_err());
        assert!(value_text(&i, &json!("5")).is_err());
        let n = spec(json!({"type": "integer"}));
        assert!(value_text(&n, &json!(-1)).is_err());
        let b = spec(json!({"type": "boolean"}));
        assert_eq!(value_text(&b, &json!(true)).unwrap(), "true");
        let e = spec(json!({"type": "string", "enum": ["a", "b"]}));
        assert!(value_text(&e, &json!("a")).is_ok());
        assert!(value_text(&e, &json!("c")).is_err());
        assert!(serde_json::from_value::<Spec>(json!({"type": "float"})).is_err());
        assert!(serde_json::from_value::<Spec>(json!({"type": "string", "shell": true})).is_err());
    }

    #[test]
    fn placeholders_are_whole_elements() {
        assert_eq!(placeholder("{path}"), Some("path"));
        assert_eq!(placeholder("--path={path}"), None);
        assert_eq!(placeholder("path"), None);
    }

    #[test]
    fn the_hash_binds_command_and_argv() {
        let r = |argv: &[&str]| Rendered { parameters: json!({}), argv: argv.iter().map(|s| s.to_string()).collect() };
        assert_eq!(r(&["a", "b"]).hash("c1"), r(&["a", "b"]).hash("c1"));
        assert_ne!(r(&["a", "b"]).hash("c1"), r(&["a", "b"]).hash("c2"));
        assert_ne!(r(&["ab"]).hash("c1"), r(&["a", "b"]).hash("c1"));
        assert_ne!(r(&["a", "b"]).hash("c1"), r(&["a", "c"]).hash("c1"));
    }
}
