//! Request rate limits, in front of every route: each endpoint class ([`EndpointClass`]) has a
//! quota per client address (its keyed hash, never the address) and, for a request that carries
//! an API key, per key as well, so that neither many keys from one address nor one key from many
//! addresses gets more than its share. A refusal is a 429 in the API's error shape (OpenAI's
//! under `/v1`) with a `Retry-After` header.
//!
//! The counters live in each instance's memory (GCRA, from `governor`): with several instances
//! a client gets each instance's quota, so a load balancer that spreads one client's requests
//! should hash on its address, or the operator divides the quotas by the number of instances.
//! Counting in the shared database instead would cost a write on every request, a flood
//! included; what must hold across instances (concurrent requests, kudos) is held there.

mod classes;
mod settings;

pub use classes::EndpointClass;
pub use settings::{Limit, RateLimits};

use crate::api::{client_hash, AppState};
use crate::refusal;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use potluck_core::Rejection;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Who a quota is counted for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Client {
    /// The keyed hash of an address; None when the address is unknown.
    Address(Option<String>),
    /// A digest of the API key as sent (valid or not), kept in memory only.
    Key([u8; 16]),
}

/// The counters of every limited class.
pub struct Limiter {
    classes: HashMap<EndpointClass, (Limit, DefaultKeyedRateLimiter<Client>)>,
    clock: DefaultClock,
}

/// A request over its class's quota.
#[derive(Debug)]
pub struct OverLimit {
    pub class: EndpointClass,
    pub limit: Limit,
    pub retry_after: Duration,
}

impl Limiter {
    pub fn new(limits: &RateLimits) -> Limiter {
        let classes = EndpointClass::ALL
            .into_iter()
            .filter_map(|class| {
                let limit = limits.of(class)?;
                let quota =
                    Quota::with_period(limit.period / limit.count.get())?.allow_burst(limit.burst);
                Some((class, (limit, RateLimiter::keyed(quota))))
            })
            .collect();
        Limiter {
            classes,
            clock: DefaultClock::default(),
        }
    }

    /// Whether `class` has a limit at all.
    fn limits(&self, class: EndpointClass) -> bool {
        self.classes.contains_key(&class)
    }

    /// Counts a request of `class` from `address` (a keyed hash) with `api_key`, or says when
    /// the client may come back. The address is counted first, so that keys made up by one
    /// client cost it its own quota before they take any memory.
    fn check(
        &self,
        class: EndpointClass,
        address: Option<String>,
        api_key: Option<&str>,
    ) -> Result<(), OverLimit> {
        let Some((limit, counters)) = self.classes.get(&class) else {
            return Ok(());
        };
        let over = |not_until: governor::NotUntil<_>| OverLimit {
            class,
            limit: *limit,
            retry_after: not_until.wait_time_from(self.clock.now()),
        };
        counters
            .check_key(&Client::Address(address))
            .map_err(over)?;
        if let Some(key) = api_key {
            let digest = Sha256::digest(key.as_bytes());
            let mut id = [0; 16];
            id.copy_from_slice(&digest[..16]);
            counters.check_key(&Client::Key(id)).map_err(over)?;
        }
        Ok(())
    }

    /// Drops the counters of clients that are back to a full quota, so that memory follows the
    /// clients of the last minutes, not every client ever seen.
    pub fn forget_idle(&self) {
        for (_, counters) in self.classes.values() {
            counters.retain_recent();
            counters.shrink_to_fit();
        }
    }

    /// Forgets idle clients every `interval`, for as long as the server runs.
    pub fn spawn_cleaner(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                ticks.tick().await;
                limiter.forget_idle();
            }
        })
    }
}

/// The middleware: counts the request against its class's quota, or answers 429.
pub async fn limit(
    State((state, limiter)): State<(AppState, Arc<Limiter>)>,
    request: Request,
    next: Next,
) -> Response {
    // Unlimited classes (all of them with `--rate-limits off`) cost no address hash.
    let class = EndpointClass::of(request.method(), request.uri().path());
    let Some(class) = class.filter(|class| limiter.limits(*class)) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let address = client_hash(&state, &parts);
    let checked = limiter.check(class, address, api_key(&parts.headers));
    let request = Request::from_parts(parts, body);
    match checked {
        Ok(()) => next.run(request).await,
        Err(over) => refusal(request.uri().path(), over),
    }
}

/// The key a request carries: the AI Horde's `apikey` header, or OpenAI's bearer token.
fn api_key(headers: &HeaderMap) -> Option<&str> {
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    value("apikey")
        .or_else(|| value("authorization").and_then(|v| v.strip_prefix("Bearer ")))
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

fn refusal(path: &str, over: OverLimit) -> Response {
    let seconds = over.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    tracing::debug!(class = %over.class, seconds, "rate limited");
    let rejection = Rejection::too_many(
        "TooManyRequests",
        format!(
            "Too many {} requests from this client (the limit is {}); try again in {seconds} s",
            over.class, over.limit
        ),
    );
    let mut response = refusal::respond(path, rejection);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limits: &str) -> Limiter {
        Limiter::new(&limits.parse().unwrap())
    }

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let limiter = limiter("off,register=2/m");
        let from = |address: &str| Some(address.to_string());
        assert!(limiter
            .check(EndpointClass::Register, from("a"), None)
            .is_ok());
        assert!(limiter
            .check(EndpointClass::Register, from("a"), None)
            .is_ok());
        let over = limiter
            .check(EndpointClass::Register, from("a"), None)
            .unwrap_err();
        // One request comes back every 30 s.
        assert!(over.retry_after > Duration::from_secs(25), "{over:?}");
        assert!(over.retry_after <= Duration::from_secs(30), "{over:?}");
        // Another address, and another class, have their own quota.
        assert!(limiter
            .check(EndpointClass::Register, from("b"), None)
            .is_ok());
        assert!(limiter.check(EndpointClass::Api, from("a"), None).is_ok());
    }

    #[test]
    fn one_key_from_many_addresses_is_counted_once() {
        let limiter = limiter("off,generate=2/m");
        for address in ["a", "b"] {
            assert!(limiter
                .check(EndpointClass::Generate, Some(address.into()), Some("k"))
                .is_ok());
        }
        assert!(limiter
            .check(EndpointClass::Generate, Some("c".into()), Some("k"))
            .is_err());
        assert!(limiter
            .check(EndpointClass::Generate, Some("c".into()), Some("other"))
            .is_ok());
    }

    #[test]
    fn keys_come_from_either_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(api_key(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        assert_eq!(api_key(&headers), Some("sk-1"));
        headers.insert("apikey", HeaderValue::from_static("horde"));
        assert_eq!(api_key(&headers), Some("horde"));
    }
}
