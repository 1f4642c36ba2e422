//! Public ids as types: 24 lowercase hex characters from 12 CSPRNG bytes (they appear in kit URLs,
//! which are credentials). A value of one of these types has been checked: requests parse them at
//! the edge (bodies, paths), so a malformed id never reaches a lookup, and a project id cannot be
//! passed where a container id is meant.

use std::{fmt, ops::Deref};

use serde::{de, Deserialize, Deserializer, Serialize};
use utoipa::{
    openapi::{schema::SchemaType, ObjectBuilder, RefOr, Schema, Type},
    PartialSchema, ToSchema,
};

/// What every id type can do, for code generic over resources.
pub trait PublicId: Sized + Send + Sync + fmt::Display + 'static {
    fn parse(s: &str) -> Option<Self>;
    fn as_str(&self) -> &str;
}

macro_rules! id_types {
    ($($(#[$doc:meta])* $name:ident,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn new() -> Self {
                Self(crate::db::new_id())
            }

            /// `s` if it is a well-formed id.
            pub fn parse(s: &str) -> Option<Self> {
                crate::db::is_id(s).then(|| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl PublicId for $name {
            fn parse(s: &str) -> Option<Self> {
                $name::parse(s)
            }
            fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| de::Error::custom("must be an id: 24 lowercase hex characters"))
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                id_schema()
            }
        }

        impl ToSchema for $name {}
    )*};
}

fn id_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .pattern(Some("^[0-9a-f]{24}$"))
        .min_length(Some(24))
        .max_length(Some(24))
        .into()
}

id_types! {
    /// A user's id.
    UserId,
    /// A project's id.
    ProjectId,
    /// A container's id.
    ContainerId,
    /// An auth token's id.
    TokenId,
    /// A registered server's id.
    ServerId,
    /// A proxy alias's id.
    AliasId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_ids_parse() {
        assert!(ContainerId::parse("0123456789abcdef01234567").is_some());
        for bad in ["", "0123456789ABCDEF01234567", "0123456789abcdef0123456", "0123456789abcdef012345678", "../etc"] {
            assert!(ContainerId::parse(bad).is_none(), "{bad}");
        }
        let ok: Result<ProjectId, _> = serde_json::from_str("\"0123456789abcdef01234567\"");
        assert!(ok.is_ok());
        let bad: Result<ProjectId, _> = serde_json::from_str("\"nope\"");
        assert!(bad.unwrap_err().to_string().contains("24 lowercase hex"));
        assert_eq!(UserId::new().len(), 24);
    }
}
