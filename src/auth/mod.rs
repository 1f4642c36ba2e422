//! Identity primitives shared by every namespace.

pub mod access;
pub mod crypto;
pub mod email;
pub mod jwt;
pub mod keyfile;
pub mod limits;
pub mod oauth;
pub mod password;
pub mod pkce;
pub mod policy;
pub mod principal;
pub mod resource;
pub mod second_factor;
pub mod secrets;
pub mod signing;
pub mod tokens;
pub mod totp;
