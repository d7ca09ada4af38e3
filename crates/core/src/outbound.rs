//! Requests the server makes to URLs its users give it: the source image of an interrogation it
//! fetches, the webhooks it calls. Such a URL may name any address, the server's own network
//! included, so by default ([`OutboundPolicy`]) every address a request may reach is checked
//! first (server-side request forgery):
//!
//! - only `http` and `https` (webhooks: `https` only, as the AI Horde requires);
//! - a name is resolved and *every* address it resolves to must be public (not loopback,
//!   private, link-local, multicast, carrier NAT, documentation or otherwise reserved); the
//!   connection then goes to those checked addresses only, so a second lookup cannot swap in
//!   another (DNS rebinding). An address written in the URL is checked the same way;
//! - no redirect is followed, no proxy from the environment is used;
//! - every request has a timeout, and a download a size limit.
//!
//! Nothing here logs a URL, a body or an address.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Which addresses outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Loopback, private, link-local and other non-public addresses too. Never on a server
    /// reachable by others; for tests against a local receiver, and closed networks.
    pub allow_private_addresses: bool,
    /// Webhooks over plain `http` too (the AI Horde requires `https`). For tests.
    pub allow_http_webhooks: bool,
}

/// How long connecting to a remote server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an outbound request did not happen or did not succeed.
#[derive(Debug)]
pub enum OutboundError {
    /// The URL or an address it resolves to is not allowed: the reason, for the caller.
    Refused(&'static str),
    /// The body is larger than the limit.
    TooLarge,
    /// The server answered with this status.
    Status(u16),
    /// No answer: unreachable, timed out, or a broken connection.
    Failed,
}

/// The error a resolver gives for a name that resolves to an address not allowed.
#[derive(Debug)]
struct RefusedAddress;

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the name resolves to an address that is not public")
    }
}

impl std::error::Error for RefusedAddress {}

/// Resolves names with the system's resolver and refuses those with any address that is not
/// public.
struct PublicAddressesOnly;

impl Resolve for PublicAddressesOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() || addresses.iter().any(|a| !is_public(a.ip())) {
                return Err(Box::new(RefusedAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// The client for outbound requests, and the policy it applies.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: OutboundPolicy,
}

impl Outbound {
    pub fn new(policy: OutboundPolicy) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("potluck/", env!("CARGO_PKG_VERSION")));
        if !policy.allow_private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        // rustls with its bundled roots, no proxy from the environment: nothing here can fail
        // at run time, only in a build without a TLS back end.
        let client = builder.build().expect("an HTTP client with rustls");
        Outbound { client, policy }
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// Whether a URL may be requested at all: an http(s) URL with a host, and, where only
    /// public addresses are allowed, neither a non-public address nor `localhost`. A name's
    /// addresses are checked when it is resolved.
    pub fn check(&self, url: &Url, https_only: bool) -> Result<(), OutboundError> {
        match url.scheme() {
            "https" => {}
            "http" if !https_only => {}
            _ if https_only => return Err(OutboundError::Refused("the URL must be https")),
            _ => return Err(OutboundError::Refused("the URL must be http or https")),
        }
        let Some(host) = url.host() else {
            return Err(OutboundError::Refused("the URL has no host"));
        };
        if self.policy.allow_private_addresses {
            return Ok(());
        }
        let public = match host {
            url::Host::Ipv4(ip) => is_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_public(IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name != "localhost" && !name.ends_with(".localhost")
            }
        };
        if !public {
            return Err(OutboundError::Refused(
                "the URL points at a loopback, private or otherwise non-public address",
            ));
        }
        Ok(())
    }

    /// Downloads `url` (checked first), at most `limit` bytes, within `timeout`.
    pub async fn fetch(
        &self,
        url: &Url,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, OutboundError> {
        self.check(url, false)?;
        let mut response = self
            .client
            .get(url.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(failure)?;
        if !response.status().is_success() {
            return Err(OutboundError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(OutboundError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            if body.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// POSTs `body` as JSON to `url` (checked first, https only unless the policy allows
    /// http) within `timeout`; Ok when the server answered with a success status.
    pub async fn post_json(
        &self,
        url: &Url,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<(), OutboundError> {
        self.check(url, !self.policy.allow_http_webhooks)?;
        let response = self
            .client
            .post(url.clone())
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(failure)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(OutboundError::Status(response.status().as_u16()))
        }
    }
}

/// A request's failure: a refused address (from the resolver), or any other.
fn failure(error: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if cause.is::<RefusedAddress>() {
            return OutboundError::Refused(
                "the URL's host resolves to a loopback, private or otherwise non-public address",
            );
        }
        source = cause.source();
    }
    OutboundError::Failed
}

/// Whether an address is public: reachable on the internet at large, and none of the server's
/// own, its network's, or a reserved range.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) if ip.is_unspecified() || ip.is_loopback() => false,
        IpAddr::V6(ip) => match embedded_v4(ip) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        // "This network", 0.0.0.0/8.
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved for future use, 240.0.0.0/4.
        || a >= 240;
    !reserved
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, high, low] => Some(from(high, low)),
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(from(high, low)),
        [0x2002, high, low, ..] => Some(from(high, low)),
        _ => None,
    }
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let reserved = ip.is_multicast()
        // Unique local, fc00::/7.
        || (s[0] & 0xfe00) == 0xfc00
        // Link-local, fe80::/10, and the deprecated site-local, fec0::/10.
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // IETF protocol assignments (Teredo among them), 2001::/23.
        || (s[0] == 0x2001 && s[1] < 0x0200)
        // Discard-only, 100::/64.
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0);
    !reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(address: &str) -> bool {
        is_public(address.parse().unwrap())
    }

    #[test]
    fn only_public_addresses_are_public() {
        for address in [
            "127.0.0.1",
            "127.8.9.1",
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(!public(address), "{address} is not public");
        }
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "2002:0101:0101::",
        ] {
            assert!(public(address), "{address} is public");
        }
    }

    fn refused(outbound: &Outbound, url: &str, https_only: bool) -> bool {
        matches!(
            outbound.check(&url.parse().unwrap(), https_only),
            Err(OutboundError::Refused(_))
        )
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let outbound = Outbound::new(OutboundPolicy::default());
        assert!(refused(&outbound, "ftp://example.org/x", false));
        assert!(refused(&outbound, "file:///etc/passwd", false));
        assert!(refused(&outbound, "http://example.org/hook", true));
        assert!(refused(&outbound, "https://127.0.0.1/hook", true));
        assert!(refused(&outbound, "https://[::1]:8080/hook", true));
        assert!(refused(&outbound, "http://localhost/x", false));
        assert!(refused(&outbound, "http://api.localhost./x", false));
        assert!(refused(&outbound, "http://169.254.169.254/latest", false));
        assert!(refused(&outbound, "http://2130706433/", false));
        assert!(!refused(&outbound, "https://example.org/hook", true));
        assert!(!refused(&outbound, "http://example.org/x.png", false));
        let tests = Outbound::new(OutboundPolicy {
            allow_private_addresses: true,
            allow_http_webhooks: true,
        });
        // Where plain-http webhooks are allowed, the webhook check asks for no https.
        assert!(!refused(&tests, "http://127.0.0.1:9/hook", false));
        assert!(refused(&tests, "ftp://127.0.0.1/x", false));
    }

    #[tokio::test]
    async fn names_of_private_addresses_are_refused_when_resolved() {
        // localhost resolves from /etc/hosts: no packet leaves the machine.
        let resolved = PublicAddressesOnly
            .resolve("localhost".parse().unwrap())
            .await;
        assert!(resolved.is_err(), "localhost resolves to loopback only");
    }
}
