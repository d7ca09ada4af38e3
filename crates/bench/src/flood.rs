//! A flooding client beside the honest load (`--flood N`): N loops from one address (sent as
//! `X-Forwarded-For`, which the started server trusts in this mode) call every endpoint class as
//! fast as they can, with made-up keys, while the honest requesters and workers run the job
//! cycle. What the honest side measures then shows what the flood costs it; the flood's own
//! answers show how much of it the server turned away.

use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The address every flooding call claims.
pub const FLOOD_ADDRESS: &str = "198.18.0.66";

/// One call of each endpoint class, in turn.
fn calls() -> Vec<(Method, &'static str, Option<Value>)> {
    let text =
        json!({"prompt": "flood", "models": ["bench/Model-1B"], "params": {"max_length": 16}});
    vec![
        (
            Method::POST,
            "/api/v2/register",
            Some(json!({"username": "flood"})),
        ),
        (Method::POST, "/api/v2/generate/text/async", Some(text)),
        (
            Method::GET,
            "/api/v2/generate/text/status/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (
            Method::POST,
            "/api/v2/generate/text/pop",
            Some(json!({"name": "flood-box", "models": ["bench/Model-1B"]})),
        ),
        (
            Method::POST,
            "/api/v2/generate/text/submit",
            Some(json!({"id": "00000000-0000-0000-0000-000000000000", "generation": "x"})),
        ),
        (
            Method::POST,
            "/api/v2/kudos/transfer",
            Some(json!({"username": "nobody#1", "amount": 1})),
        ),
        (Method::GET, "/api/v2/status/models", None),
        (Method::GET, "/api/v2/users", None),
        (
            Method::POST,
            "/v1/chat/completions",
            Some(
                json!({"model": "bench/Model-1B", "messages": [{"role": "user", "content": "x"}]}),
            ),
        ),
        (Method::GET, "/", None),
    ]
}

/// How the server answered the flood: calls by status code.
#[derive(Default)]
pub struct FloodTally {
    pub by_status: BTreeMap<u16, u64>,
    pub failed: u64,
}

impl FloodTally {
    pub fn print(&self, elapsed: Duration) {
        let total: u64 = self.by_status.values().sum::<u64>() + self.failed;
        if total == 0 {
            return;
        }
        println!(
            "flood: {total} calls in {:.1} s ({:.0}/s) from one address",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
        for (status, count) in &self.by_status {
            println!("  HTTP {status}: {count}");
        }
        if self.failed > 0 {
            println!("  no answer: {}", self.failed);
        }
    }
}

/// Floods `root` until `stop` is set.
pub async fn flood(root: String, stop: Arc<AtomicBool>, loop_index: usize) -> FloodTally {
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let calls = calls();
    let mut tally = FloodTally::default();
    let mut n = loop_index;
    while !stop.load(Ordering::Relaxed) {
        let (method, path, body) = &calls[n % calls.len()];
        n += 1;
        let mut request = http
            .request(method.clone(), format!("{root}{path}"))
            .header("X-Forwarded-For", FLOOD_ADDRESS)
            // A new made-up key on every call: keys cost the flooder its address's quota first.
            .header("apikey", format!("flood-key-{n}"))
            .header("authorization", format!("Bearer flood-key-{n}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                *tally
                    .by_status
                    .entry(response.status().as_u16())
                    .or_default() += 1;
                // Read the body, as a client would, so the connection is reused.
                let _ = response.bytes().await;
            }
            Err(_) => tally.failed += 1,
        }
    }
    tally
}

/// Runs `loops` flooding loops until `stop`, and returns their merged tally and how long they ran.
pub async fn run(root: String, loops: usize, stop: Arc<AtomicBool>) -> (FloodTally, Duration) {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for index in 0..loops {
        set.spawn(flood(root.clone(), stop.clone(), index));
    }
    let mut merged = FloodTally::default();
    while let Some(done) = set.join_next().await {
        let tally = done.expect("flood loop panicked");
        for (status, count) in tally.by_status {
            *merged.by_status.entry(status).or_default() += count;
        }
        merged.failed += tally.failed;
    }
    (merged, started.elapsed())
}
