//! Identity primitives shared by every namespace.

pub mod jwt;
pub mod limits;
pub mod password;
pub mod principal;
pub mod secrets;
