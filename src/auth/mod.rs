//! Identity primitives shared by every namespace.

pub mod access;
pub mod cache;
pub mod cookie;
pub mod crypto;
pub mod email;
pub mod jwt;
pub mod keyfile;
pub mod limits;
pub mod oauth;
pub mod password;
pub mod permissions;
pub mod pkce;
pub mod principal;
pub mod second_factor;
pub mod secrets;
pub mod sessions;
pub mod signing;
pub mod tokens;
pub mod totp;
