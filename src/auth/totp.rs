//! RFC 6238 TOTP (SHA-1, 6 digits, 30 s, one step of drift either way), the otpauth URI and its
//! QR code, and backup codes.

use std::io::Cursor;

use base64::{engine::general_purpose::STANDARD, Engine};
use rand::{Rng, RngCore};
use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
const ISSUER: &str = "Hoody";
pub const BACKUP_CODES: usize = 10;
const BACKUP_LEN: usize = 10;
const BACKUP_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// 160 bits from the OS CSPRNG.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// Base32, as authenticator apps take it by hand.
pub fn manual_key(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

fn totp(secret: &[u8]) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECS, secret.to_vec())
}

/// The code for a 30 s step.
pub fn code_at_step(secret: &[u8], step: u64) -> String {
    totp(secret).generate(step * STEP_SECS)
}

/// The step (t−1, t or t+1 around `now`) whose code is `code`, if any.
pub fn matching_step(secret: &[u8], code: &str, now_secs: u64) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = now_secs / STEP_SECS;
    let mut found = None;
    // Look at every candidate (no early exit), comparing in constant time.
    for step in [t.saturating_sub(1), t, t + 1] {
        if crate::auth::secrets::same_secret(&code_at_step(secret, step), code) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `otpauth://totp/Hoody:<account>?secret=…&issuer=Hoody&algorithm=SHA1&digits=6&period=30`
pub fn otpauth_uri(account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(account),
        manual_key(secret)
    )
}

/// The URI as a scannable PNG, as a `data:` URI.
pub fn qr_data_uri(uri: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(uri.as_bytes())?;
    let img = code.render::<image::Luma<u8>>().min_dimensions(200, 200).build();
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(img).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(format!("data:image/png;base64,{}", STANDARD.encode(png)))
}

/// Ten codes of ten characters from an unambiguous alphabet.
pub fn new_backup_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..BACKUP_CODES)
        .map(|_| (0..BACKUP_LEN).map(|_| BACKUP_ALPHABET[rng.gen_range(0..BACKUP_ALPHABET.len())] as char).collect())
        .collect()
}

/// A backup code as typed (spaces and dashes dropped, upper-cased), when it has the shape of one:
/// ten characters of the backup alphabet. Anything else can never match, so it is refused
/// before any hashing.
pub fn normalize_backup_code(code: &str) -> Option<String> {
    if code.len() > 32 {
        return None;
    }
    let c: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect::<String>().to_ascii_uppercase();
    (c.len() == BACKUP_LEN && c.bytes().all(|b| BACKUP_ALPHABET.contains(&b))).then_some(c)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1 seed, T = 59 s → 94287082 (8 digits); the 6-digit code is its tail.
        let secret = b"12345678901234567890";
        assert_eq!(code_at_step(secret, 59 / STEP_SECS), "287082");
        assert_eq!(matching_step(secret, "287082", 59), Some(1));
        assert_eq!(matching_step(secret, "287082", 59 + 30), Some(1), "one step late is accepted");
        assert_eq!(matching_step(secret, "287082", 59 + 60), None, "two steps late is not");
        assert_eq!(matching_step(secret, "28708", 59), None);
        assert_eq!(matching_step(secret, "2870822", 59), None);
    }

    #[test]
    fn backup_codes_are_distinct_and_normalised() {
        let codes = new_backup_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 10));
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        assert_eq!(normalize_backup_code("abcde-23456").as_deref(), Some("ABCDE23456"));
        assert_eq!(normalize_backup_code("123456"), None);
        // Outside the alphabet (0, 1, I, O never appear in a backup code), or the wrong length.
        assert_eq!(normalize_backup_code("ABCDE12345"), None);
        assert_eq!(normalize_backup_code("ABCDEFGHJKL"), None);
        assert_eq!(normalize_backup_code("ABCDÉFGHJK"), None);
        assert!(codes.iter().all(|c| normalize_backup_code(c).as_deref() == Some(c.as_str())));
    }
}
