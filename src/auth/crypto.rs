//! Authenticated encryption of secrets at rest (TOTP secrets, host client keys, the vault):
//! XChaCha20-Poly1305 with a random 24-byte nonce per value and associated data that binds the
//! value to its owner. Each key has an id (a hash of it); earlier keys may be kept to open what
//! was sealed before a rotation.

use std::path::Path;

use anyhow::{bail, Context};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::RngCore;

const NONCE: usize = 24;

/// The id a key's sealed values are stored with: 16 hex of SHA-256 over a label and the key, so
/// that it names the key without revealing it.
fn key_id(key: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"hoody secret key id\0");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

fn cipher(key: &[u8]) -> anyhow::Result<XChaCha20Poly1305> {
    if key.len() != 32 {
        bail!("the secret key must be 32 bytes (64 hex characters)");
    }
    XChaCha20Poly1305::new_from_slice(key).map_err(|_| anyhow::anyhow!("bad key length"))
}

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    id: String,
    /// Earlier keys (`HOODY_SECRET_KEY_PREVIOUS`) with their ids: values sealed before a
    /// rotation still open.
    previous: Vec<(String, XChaCha20Poly1305)>,
}

impl SecretBox {
    /// From `HOODY_SECRET_KEY` (64 hex characters), else a key generated once into the data dir.
    pub fn load(key_hex: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let key = match key_hex {
            Some(k) => hex::decode(k.trim()).context("HOODY_SECRET_KEY is not hex")?,
            None => super::keyfile::load_or_create(&data_dir.join("secret-key"), "secret-encryption key")?,
        };
        Ok(Self { cipher: cipher(&key)?, id: key_id(&key), previous: Vec::new() })
    }

    /// Also open values sealed under these earlier keys (64 hex each).
    pub fn with_previous(mut self, keys: &[crate::secret::Secret]) -> anyhow::Result<Self> {
        for k in keys {
            let key =
                hex::decode(k.as_str().trim()).context("HOODY_SECRET_KEY_PREVIOUS holds a key that is not hex")?;
            let id = key_id(&key);
            if id != self.id && !self.previous.iter().any(|(p, _)| *p == id) {
                self.previous.push((id, cipher(&key).context("HOODY_SECRET_KEY_PREVIOUS")?));
            }
        }
        Ok(self)
    }

    /// The id of the key [`SecretBox::seal`] uses (stored with what it seals).
    pub fn key_id(&self) -> &str {
        &self.id
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
    /// Tries the current key, then the earlier ones.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        match open_with(&self.cipher, aad, sealed) {
            Ok(plain) => Ok(plain),
            Err(e) => self.previous.iter().find_map(|(_, c)| open_with(c, aad, sealed).ok()).ok_or(e),
        }
    }

    /// Open a value stored with the id of the key that sealed it; fails when this server does not
    /// hold that key.
    pub fn open_by_id(&self, key_id: &str, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if key_id == self.id {
            return open_with(&self.cipher, aad, sealed);
        }
        match self.previous.iter().find(|(id, _)| id == key_id) {
            Some((_, c)) => open_with(c, aad, sealed),
            None => bail!("sealed under key {key_id}, which this server does not hold"),
        }
    }
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
    if sealed.len() < NONCE + 16 {
        bail!("sealed value too short");
    }
    let (nonce, ct) = sealed.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into()?;
    cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad })
        .map_err(|_| anyhow::anyhow!("sealed value does not authenticate"))
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

    #[test]
    fn earlier_keys_open_what_they_sealed() {
        let dir = std::env::temp_dir().join(format!("hoody-box-{}", crate::db::new_id()));
        let (old_hex, new_hex) = ("11".repeat(32), "22".repeat(32));
        let old = SecretBox::load(Some(&old_hex), &dir).unwrap();
        let sealed = old.seal(b"a", b"secret").unwrap();
        let new = SecretBox::load(Some(&new_hex), &dir).unwrap();
        assert_ne!(old.key_id(), new.key_id());
        assert!(new.open(b"a", &sealed).is_err());
        assert!(new.open_by_id(old.key_id(), b"a", &sealed).is_err(), "the old key is not held");
        let both = new.with_previous(&[crate::secret::Secret::new(old_hex.clone())]).unwrap();
        assert_eq!(both.open(b"a", &sealed).unwrap(), b"secret");
        assert_eq!(both.open_by_id(old.key_id(), b"a", &sealed).unwrap(), b"secret");
        assert!(both.open_by_id(both.key_id(), b"a", &sealed).is_err(), "named by the wrong id");
        assert!(both.open_by_id(old.key_id(), b"b", &sealed).is_err(), "another owner");
    }
}
