//! `Secret<T>`: a value that must never reach a log or a panic message. Its `Debug` prints
//! `[redacted]`.
//! Settings (keys, URLs with passwords) and request fields (passwords, codes, tokens) hold
//! their secrets in it.

use std::fmt;

use serde::{Deserialize, Deserializer};
use utoipa::{
    openapi::{RefOr, Schema},
    PartialSchema, ToSchema,
};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Secret<String> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reading the value is as easy as for the plain type (`password.len()`, `&*password`); what
/// `Secret` guards is the value leaking through `Debug` (logs, panics, error chains).
impl<T> std::ops::Deref for Secret<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(v: T) -> Self {
        Self(v)
    }
}

impl From<&str> for Secret<String> {
    fn from(v: &str) -> Self {
        Self(v.to_owned())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self)
    }
}

impl<T: PartialSchema> PartialSchema for Secret<T> {
    fn schema() -> RefOr<Schema> {
        T::schema()
    }
}

impl<T: ToSchema> ToSchema for Secret<T> {}

/// Read from a column as the plain type (a password hash, a token's hash).
impl<T: sqlx::Type<sqlx::Postgres>> sqlx::Type<sqlx::Postgres> for Secret<T> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        T::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        T::compatible(ty)
    }
}

impl<'r, T: sqlx::Decode<'r, sqlx::Postgres>> sqlx::Decode<'r, sqlx::Postgres> for Secret<T> {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        T::decode(value).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2-very-secret".to_owned());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "hunter2-very-secret");
        let parsed: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(parsed.as_str(), "abc");
    }
}
