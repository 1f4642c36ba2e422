//! Extractors with our rejections.

mod client_ip;
mod if_match;
mod json;
mod query;

pub use client_ip::ClientIp;
pub use if_match::IfMatch;
pub use json::{parse_json, Json, OpaqueJson};
pub use query::{parse_query, Path, Query};
