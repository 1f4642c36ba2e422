//! Extractors with our rejections.

mod client_ip;
mod json;

pub use client_ip::ClientIp;
pub use json::{parse_json, Json};
