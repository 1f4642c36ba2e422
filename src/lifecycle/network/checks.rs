//! What a network setting may name: a proxy of the right scheme on a public host, short free-text
//! fields, and public DNS servers.
//!
//! The address rule ([`forbidden_target`]) refuses loopback, unspecified, private (RFC 1918, CGNAT
//! 100.64/10, ULA fc00::/7), link-local (which holds the cloud metadata address 169.254.169.254;
//! fd00:ec2::254 is ULA), multicast, broadcast and reserved addresses, also when written as
//! IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6. A proxy named by a host name is resolved, and
//! refused when any address it resolves to is refused, or when it does not resolve (422: the
//! container could not reach it either). The apply step calls [`recheck_proxy`] again just before
//! the setting reaches the host, since a name may resolve elsewhere by then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::NetworkType;
use crate::{error::FieldError, resolver::Resolver};

/// True for an address a container's proxy or DNS server must not be.
pub fn forbidden_target(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => forbidden_v4(v),
        IpAddr::V6(v) => forbidden_v6(v),
    }
}

fn forbidden_v4(v: Ipv4Addr) -> bool {
    let o = v.octets();
    v.is_loopback()
        || v.is_private()
        || v.is_link_local()
        || v.is_unspecified()
        || v.is_broadcast()
        || v.is_multicast()
        || o[0] == 0
        // CGNAT 100.64/10
        || (o[0] == 100 && (64..128).contains(&o[1]))
        // IETF protocol assignments 192.0.0/24 (DS-Lite, NAT64 discovery…)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        // reserved 240/4
        || o[0] >= 240
}

fn forbidden_v6(v: Ipv6Addr) -> bool {
    let s = v.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    v.is_loopback()
        || v.is_unspecified()
        || v.is_multicast()
        // unique local fc00::/7 (fd00::/8 and the metadata address fd00:ec2::254 in it)
        || (s[0] & 0xfe00) == 0xfc00
        // link-local fe80::/10, and the deprecated site-local fec0::/10
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d
        || v.to_ipv4().is_some_and(forbidden_v4)
        // NAT64 64:ff9b::/96 and 6to4 2002::/16 reach the IPv4 address they carry
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] && forbidden_v4(embedded(s[6], s[7])))
        || (s[0] == 0x2002 && forbidden_v4(embedded(s[1], s[2])))
}

/// The proxy URL's form: its scheme matches `kind`, it names a host that is a public address or a
/// name that could be public, and a port. Names are not resolved here: see [`proxy_target`].
pub fn proxy_url(kind: NetworkType, raw: &str) -> Result<(reqwest::Url, bool), FieldError> {
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
    let host = host_of(&url).ok_or_else(|| bad("must name a host"))?;
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

/// The URL's host, lower-case, without IPv6 brackets or a trailing dot.
fn host_of(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?.trim_matches(|c| c == '[' || c == ']');
    Some(host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase())
}

/// A host name must resolve, and to allowed addresses only (any refused one refuses the name:
/// the client may connect to whichever it gets). The error names `path`.
async fn resolves_publicly(resolver: &dyn Resolver, path: &str, host: &str) -> Result<(), FieldError> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    match resolver.lookup(host).await {
        Ok(ips) if ips.is_empty() => Err(FieldError::new(path, "the host name does not resolve")),
        Ok(ips) if ips.iter().any(|ip| forbidden_target(*ip)) => {
            Err(FieldError::new(path, "the host name resolves to a loopback, link-local, private or metadata address"))
        }
        Ok(_) => Ok(()),
        Err(_) => Err(FieldError::new(path, "the host name does not resolve")),
    }
}

/// [`proxy_url`], then the host name resolved and every address it gives checked.
pub async fn proxy_target(
    resolver: &dyn Resolver,
    kind: NetworkType,
    raw: &str,
) -> Result<(reqwest::Url, bool), FieldError> {
    let (url, creds) = proxy_url(kind, raw)?;
    let host = host_of(&url).unwrap_or_default();
    resolves_publicly(resolver, "proxy", &host).await?;
    Ok((url, creds))
}

/// The check again, at apply time, on a stored proxy URL (the name may resolve elsewhere by now).
/// The error names `proxy`.
pub async fn recheck_proxy(resolver: &dyn Resolver, url: &str) -> Result<(), FieldError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| FieldError::new("proxy", "is not a URL"))?;
    let host = host_of(&parsed).ok_or_else(|| FieldError::new("proxy", "must name a host"))?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        if forbidden_target(ip) {
            return Err(FieldError::new("proxy", "loopback, link-local and private addresses are not allowed"));
        }
        return Ok(());
    }
    resolves_publicly(resolver, "proxy", &host).await
}

/// `dns_servers`: at most 4 IP addresses (`["1.1.1.1", "8.8.8.8"]` when omitted), each under the
/// same rule as a proxy address. Returns them in canonical form, or every error (`dns_servers`,
/// `dns_servers[i]`).
pub fn dns_servers(input: Option<&[String]>) -> Result<Vec<String>, Vec<FieldError>> {
    let default = ["1.1.1.1".to_owned(), "8.8.8.8".to_owned()];
    let given = input.unwrap_or(&default);
    let mut errors = Vec::new();
    if given.len() > 4 {
        errors.push(FieldError::new("dns_servers", "at most 4"));
    }
    let mut out = Vec::new();
    for (i, d) in given.iter().enumerate() {
        match d.trim().parse::<IpAddr>() {
            Ok(ip) if forbidden_target(ip) => errors.push(FieldError::new(
                format!("dns_servers[{i}]"),
                "loopback, link-local, private and metadata addresses are not allowed",
            )),
            Ok(ip) => out.push(ip.to_string()),
            Err(_) => errors.push(FieldError::new(format!("dns_servers[{i}]"), "must be an IP address")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
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

pub fn short(path: &str, v: &Option<String>, max: usize) -> Result<Option<String>, FieldError> {
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
    use crate::resolver::StaticResolver;

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
            "socks5://[fd00:ec2::254]:80",
            "socks5://[fd12:3456::1]:1080",
            "socks5://100.64.0.1:1080",
            "socks5://[64:ff9b::a9fe:a9fe]:80",
            "socks5://[2002:c0a8:0101::1]:1080",
        ] {
            assert!(proxy_url(NetworkType::Socks5, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_address_rule() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "169.254.1.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.170",
            "::1",
            "::",
            "fd00::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:0a00:0001::1",
        ] {
            assert!(forbidden_target(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "203.0.113.9", "100.128.0.1", "2606:4700:4700::1111", "64:ff9b::808:808"] {
            assert!(!forbidden_target(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn dns_servers_follow_the_address_rule() {
        assert_eq!(dns_servers(None).unwrap(), vec!["1.1.1.1", "8.8.8.8"]);
        assert_eq!(dns_servers(Some(&[" 9.9.9.9 ".into(), "2606:4700:4700::1111".into()])).unwrap().len(), 2);
        for bad in [
            "127.0.0.1",
            "169.254.169.254",
            "10.0.0.1",
            "::1",
            "fd00:ec2::254",
            "::ffff:192.168.1.1",
            "dns.example.com",
        ] {
            let e = dns_servers(Some(&["1.1.1.1".into(), bad.into()])).unwrap_err();
            assert_eq!(e[0].path, "dns_servers[1]", "{bad}");
        }
        assert_eq!(dns_servers(Some(&vec!["1.1.1.1".to_owned(); 5])).unwrap_err()[0].path, "dns_servers");
    }

    #[tokio::test]
    async fn names_are_resolved_and_every_address_checked() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let r = StaticResolver::new([
            ("public.example.net", vec![ip("198.51.100.7")]),
            ("localtest.me", vec![ip("127.0.0.1")]),
            ("mixed.example.net", vec![ip("198.51.100.8"), ip("10.0.0.8")]),
            ("ula.example.net", vec![ip("fd12::1")]),
        ]);
        assert!(proxy_target(&r, NetworkType::Socks5, "socks5://public.example.net:1080").await.is_ok());
        for bad in ["socks5://localtest.me:1080", "socks5://mixed.example.net:1080", "socks5://ula.example.net:1080"] {
            let e = proxy_target(&r, NetworkType::Socks5, bad).await.unwrap_err();
            assert!(e.message.contains("resolves to"), "{bad}: {}", e.message);
        }
        let e = proxy_target(&r, NetworkType::Socks5, "socks5://nowhere.example.net:1080").await.unwrap_err();
        assert!(e.message.contains("does not resolve"));
        assert!(recheck_proxy(&r, "socks5://u:p@public.example.net:1080").await.is_ok());
        assert!(recheck_proxy(&r, "socks5://u:p@localtest.me:1080").await.is_err());
        assert!(recheck_proxy(&r, "socks5://10.0.0.1:1080").await.is_err());
    }
}
