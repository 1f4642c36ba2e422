//! E-mail addresses as accounts know them. An address is normalised wherever one comes in
//! (signup, login, resend, forgot-password, OAuth linking) so that look-alike spellings reach one
//! account: default-ignorable code points (zero-width space, joiners, soft hyphen, BOM, variation
//! selectors…) are removed, the rest is NFKC-normalised (fullwidth `ａ` is `a`), trimmed and
//! lower-cased.
//!
//! What remains must be plain ASCII: the mail relay is spoken to without SMTPUTF8, and a domain in
//! another script (Cyrillic `е` for Latin `e`) is a look-alike far more often than a real mailbox.
//! Internationalised addresses (a non-ASCII local part, or an IDN domain) are refused with 422; an
//! IDN domain written in its ASCII form (`xn--…`) is accepted.

use unicode_normalization::UnicodeNormalization;

use crate::error::FieldError;

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.1).
const DEFAULT_IGNORABLE: [(u32, u32); 17] = [
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

pub fn is_default_ignorable(c: char) -> bool {
    let c = c as u32;
    DEFAULT_IGNORABLE.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// The one spelling of an address that accounts are keyed by.
pub fn normalize(raw: &str) -> String {
    let visible: String = raw.chars().filter(|c| !is_default_ignorable(*c)).collect();
    let nfkc: String = visible.nfkc().filter(|c| !is_default_ignorable(*c)).collect();
    nfkc.trim().to_lowercase()
}

/// A normalised address we can deliver to: ASCII, a valid mailbox with a dotted domain name (no
/// address literal), at most 254 bytes. The error names `email`.
pub fn check(email: &str) -> Result<(), FieldError> {
    if !email.is_ascii() {
        return Err(FieldError::new(
            "email",
            "Only ASCII addresses are supported (no internationalised local part or domain; write an IDN domain as xn--)",
        ));
    }
    let ok = email.len() <= 254
        && email.parse::<lettre::Address>().is_ok_and(|a| a.domain().contains('.') && !a.domain().starts_with('['));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("email", "Must be a valid email address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_spellings_normalise_to_one_address() {
        for raw in [
            "alice@example.com",
            " Alice@Example.COM ",
            "ali\u{200b}ce@example.com",
            "\u{feff}alice@exam\u{00ad}ple.com",
            "alice\u{200d}@example\u{2060}.com",
            "ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ",
            "ALİCE@example.com".replace('İ', "I").as_str(),
            "alice\u{fe0f}@example.com",
            "alice@example\u{3002}com".replace('\u{3002}', ".").as_str(),
        ] {
            assert_eq!(normalize(raw), "alice@example.com", "{raw:?}");
            assert!(check(&normalize(raw)).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn what_the_relay_cannot_take_is_refused_naming_email() {
        for raw in ["alice@\u{0435}xample.com", "\u{0430}lice@example.com", "алиса@пример.рф", "bücher@bücher.de"]
        {
            let e = check(&normalize(raw)).unwrap_err();
            assert_eq!(e.path, "email", "{raw:?}");
        }
        for bad in ["alice", "alice@localhost", "alice@[127.0.0.1]", "@example.com", ""] {
            assert!(check(&normalize(bad)).is_err(), "{bad:?}");
        }
        assert!(check("alice@xn--bcher-kva.de").is_ok());
    }
}
