//! Keys generated once and kept in the data dir (the JWT secret, the secret-encryption key):
//! 32 CSPRNG bytes, hex, created with mode 0600.

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::Context;
use rand::RngCore;

/// The bytes in `path`, or 32 new random bytes written there first. `what` names it in the log.
pub fn load_or_create(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    if let Ok(hexed) = std::fs::read_to_string(path) {
        return hex::decode(hexed.trim()).with_context(|| format!("{} is not hex", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(hex::encode(key).as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new {what}");
    Ok(key.to_vec())
}
