//! Proxy permission documents: who may reach a container's programs through the platform's edge
//! proxy. One document per container and one per project, each versioned (`db::documents`),
//! validated here into typed groups, program rules and hooks, and shown without secrets to
//! callers who may not edit them.

pub mod doc;
pub mod evaluate;
pub mod file;
pub mod group;
pub mod hooks;

pub use doc::{Document, Policy, Scope};
pub use group::Group;

use crate::error::FieldError;

/// `^[A-Za-z0-9_-]{1,50}$`: a group's name.
pub fn group_name_ok(name: &str) -> bool {
    (1..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `^[a-z0-9][a-z0-9_-]{0,49}$`: a program's or a service's name.
pub fn service_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=50).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// The 422 for a program's or a service's name (`field`: where it was given).
pub fn check_name(name: &str, field: &str) -> Result<(), FieldError> {
    if service_name_ok(name) {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be 1-50 of a-z 0-9 _ - (a letter or digit first)"))
    }
}

/// The 422 for a group name in a path.
pub fn check_group_name(name: &str) -> Result<(), FieldError> {
    if group_name_ok(name) {
        Ok(())
    } else {
        Err(FieldError::new("groupName", "must be 1-50 of A-Z a-z 0-9 _ -"))
    }
}

/// Programs whose rule is only a yes or no (no instances or ports to pick).
pub const BOOL_ONLY: [&str; 4] = ["files", "services", "notifications", "exec"];

/// Services whose hooks the platform keeps for itself.
pub const RESERVED_SERVICES: [&str; 3] = ["logs", "proxy", "workspaces"];

/// Limits that keep one document small enough to read on every request at the edge.
pub const MAX_GROUPS: usize = 64;
pub const MAX_PROGRAMS: usize = 64;
pub const MAX_PORTS: usize = 256;
pub const MAX_HOOKS_PER_SERVICE: usize = 8;
pub const MAX_HOOKS: usize = 32;
