//! Name resolution for the address rules (proxy targets): the system resolver in production, a
//! fixed map in tests (the test machines have no DNS, and a refusal test through a name that does
//! not resolve would pass for the wrong reason).

use std::{collections::HashMap, future::Future, io, net::IpAddr, pin::Pin, time::Duration};

pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Every address a host name resolves to (A and AAAA). An error or an empty list: it does not resolve.
pub trait Resolver: Send + Sync {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a>;
}

/// The operating system's resolver (`getaddrinfo` through `tokio::net::lookup_host`), bounded in time.
pub struct SystemResolver {
    pub timeout: Duration,
}

impl Default for SystemResolver {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(3) }
    }
}

impl Resolver for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            let found = tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, 0)))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "name lookup timed out"))??;
            let mut ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
            ips.sort();
            ips.dedup();
            Ok(ips)
        })
    }
}

/// A fixed map from names (case-insensitive, trailing dot ignored) to addresses; any other name
/// does not resolve.
#[derive(Default)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, Vec<IpAddr>)>) -> Self {
        Self { names: entries.into_iter().map(|(n, ips)| (key(n), ips)).collect() }
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Resolver for StaticResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        let found = self.names.get(&key(host)).cloned();
        Box::pin(async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name")) })
    }
}
