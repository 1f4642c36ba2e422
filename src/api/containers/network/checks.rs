//! What a network setting may name: a proxy of the right scheme on a public host (no
//! loopback, private, link-local or shorthand addresses), short free-text fields.

use std::net::IpAddr;

use super::NetworkType;
use crate::error::FieldError;

fn forbidden_target(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v.to_ipv4().is_some_and(|m| forbidden_target(IpAddr::V4(m)))
        }
    }
}

/// The proxy URL: its scheme matches `kind`, it names a public host and a port.
pub(super) fn proxy_url(kind: NetworkType, raw: &str) -> Result<(reqwest::Url, bool), FieldError> {
    let bad = |m: &str| FieldError::new("proxy", m);
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| bad("must be a URL such as socks5://host:1080"))?;
    let scheme_ok = match kind {
        NetworkType::Socks5 => matches!(url.scheme(), "socks5" | "socks5h"),
        NetworkType::Http => url.scheme() == "http",
        NetworkType::Https => url.scheme() == "https",
        NetworkType::Block => false,
    };
    if !scheme_ok {
        return Err(bad("the scheme must match type"));
    }
    let host = url.host_str().ok_or_else(|| bad("must name a host"))?.trim_matches(|c| c == '[' || c == ']');
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        if forbidden_target(ip) {
            return Err(bad("loopback, link-local and private addresses are not allowed"));
        }
    } else if !public_name(&host) {
        return Err(bad("must be an IP address or a public host name"));
    }
    if url.port_or_known_default().is_none() {
        return Err(bad("must give a port"));
    }
    if raw.len() > 2048 {
        return Err(bad("at most 2048 characters"));
    }
    let creds = !url.username().is_empty() || url.password().is_some();
    Ok((url, creds))
}

/// A DNS name that no resolver reads as an address (`127.1`, `0x7f.1`, `10.1` are refused: the
/// last label must be letters) and that is not local by convention.
fn public_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !matches!(tld, "localhost" | "local" | "internal" | "localdomain" | "home" | "lan" | "corp")
}

pub(super) fn short(path: &str, v: &Option<String>, max: usize) -> Result<Option<String>, FieldError> {
    match v {
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => {
            Err(FieldError::new(path, format!("at most {max} characters, no control characters")))
        }
        v => Ok(v.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_targets() {
        assert!(proxy_url(NetworkType::Socks5, "socks5://u:p@proxy.example.com:1080").unwrap().1);
        assert!(!proxy_url(NetworkType::Http, "http://203.0.113.9:8080").unwrap().1);
        for bad in [
            "socks5://127.0.0.1:1080",
            "socks5://10.1.2.3:1080",
            "socks5://192.168.1.1:1080",
            "socks5://169.254.169.254:80",
            "socks5://[::1]:1080",
            "socks5://[fe80::1]:1080",
            "socks5://localhost:1080",
            "socks5://metadata.internal:80",
            "http://proxy.example.com:8080",
            "socks5://127.1:1080",
            "socks5://0177.0.0.1:1080",
            "socks5://0x7f.0.0.1:1080",
            "socks5://10.1:1080",
            "socks5://localhost.:1080",
            "socks5://[::127.0.0.1]:1080",
            "socks5://[::ffff:10.0.0.1]:1080",
        ] {
            assert!(proxy_url(NetworkType::Socks5, bad).is_err(), "{bad}");
        }
    }
}
