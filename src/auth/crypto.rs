//! Authenticated encryption of secrets at rest (TOTP secrets; later the vault): XChaCha20-Poly1305
//! with a random 24-byte nonce per value and associated data that binds the value to its owner.

use std::path::Path;

use anyhow::{bail, Context};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::RngCore;

const NONCE: usize = 24;

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// From `HOODY_SECRET_KEY` (64 hex characters), else a key generated once into the data dir.
    pub fn load(key_hex: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let key = match key_hex {
            Some(k) => hex::decode(k.trim()).context("HOODY_SECRET_KEY is not hex")?,
            None => super::keyfile::load_or_create(&data_dir.join("secret-key"), "secret-encryption key")?,
        };
        if key.len() != 32 {
            bail!("the secret key must be 32 bytes (64 hex characters)");
        }
        Ok(Self { cipher: XChaCha20Poly1305::new_from_slice(&key).map_err(|_| anyhow::anyhow!("bad key length"))? })
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend(ct);
        Ok(out)
    }

    /// Fails on a wrong key, a wrong owner (AAD) or any flipped bit; never returns garbage.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE + 16 {
            bail!("sealed value too short");
        }
        let (nonce, ct) = sealed.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into()?;
        self.cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad })
            .map_err(|_| anyhow::anyhow!("sealed value does not authenticate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_owner_and_intact_bytes() {
        let dir = std::env::temp_dir().join(format!("hoody-box-{}", crate::db::new_id()));
        let b = SecretBox::load(None, &dir).unwrap();
        let sealed = b.seal(b"user-a", b"secret").unwrap();
        assert_eq!(b.open(b"user-a", &sealed).unwrap(), b"secret");
        assert!(b.open(b"user-b", &sealed).is_err(), "copied to another owner");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(b.open(b"user-a", &flipped).is_err(), "a flipped bit");
        assert_ne!(b.seal(b"user-a", b"secret").unwrap(), sealed, "a fresh nonce every time");
        // The key file is reused.
        let again = SecretBox::load(None, &dir).unwrap();
        assert_eq!(again.open(b"user-a", &sealed).unwrap(), b"secret");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
