//! The streaming benchmark (`--streams N`): N requesters each stream `/v1/completions` while N
//! simulated workers "generate" a token every `--token-ms` and send it through
//! `/api/v2/generate/text/progress`, the way potluck-worker does (whatever accumulated while
//! the previous message was on its way goes in the next one). It measures:
//! - time to first token: from the requester's call to its first text;
//! - the latency the server adds: from the worker sending a progress message to the requester
//!   reading its tokens;
//! - token latency: from the moment a token was generated to the moment the requester read it,
//!   which adds the worker's batching (a token waits while the previous message is on its way).
//!
//! Each token's text names its number (`[17]`), so the requester can look up when it was
//! generated; the whole text must arrive in order, exactly once, or the run fails.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::task::JoinSet;

use crate::api::Api;
use crate::report::{millis, percentile};

pub struct StreamBench {
    /// Names the workers, so that runs on a reused server do not clash.
    pub run_id: String,
    pub streams: usize,
    pub tokens: u32,
    pub token_time: Duration,
    pub rounds: u32,
}

/// When each token was generated, and sent, by its number.
#[derive(Default)]
struct Clockboard {
    next: AtomicU64,
    times: Mutex<HashMap<u64, TokenTimes>>,
}

#[derive(Clone, Copy)]
struct TokenTimes {
    generated: Instant,
    sent: Option<Instant>,
}

impl Clockboard {
    fn times(&self) -> MutexGuard<'_, HashMap<u64, TokenTimes>> {
        self.times.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new token: its number, and its text.
    fn token(&self) -> (u64, String) {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let times = TokenTimes {
            generated: Instant::now(),
            sent: None,
        };
        self.times().insert(number, times);
        (number, format!("[{number}]"))
    }

    fn sending(&self, numbers: &[u64]) {
        let now = Instant::now();
        let mut times = self.times();
        for number in numbers {
            if let Some(t) = times.get_mut(number) {
                t.sent = Some(now);
            }
        }
    }

    fn of(&self, number: u64) -> Option<TokenTimes> {
        self.times().get(&number).copied()
    }
}

#[derive(Default)]
struct Measured {
    first_token: Vec<Duration>,
    /// Progress sent → read by the requester.
    relay: Vec<Duration>,
    /// Token generated → read by the requester.
    token: Vec<Duration>,
    progress_messages: u64,
    errors: Vec<String>,
}

impl StreamBench {
    pub async fn run(
        &self,
        api: Arc<Api>,
        requester_keys: Vec<String>,
        worker_keys: Vec<String>,
    ) -> anyhow::Result<()> {
        let board = Arc::new(Clockboard::default());
        let stop = Arc::new(AtomicBool::new(false));
        let messages = Arc::new(AtomicU64::new(0));
        // The workers announce the model before anyone asks for it.
        for (i, key) in worker_keys.iter().enumerate() {
            api.pop(key, &format!("stream-worker-{i}"))
                .await
                .map_err(anyhow::Error::msg)?;
        }
        let mut workers = JoinSet::new();
        for (i, key) in worker_keys.into_iter().enumerate() {
            let (api, board, stop, messages) =
                (api.clone(), board.clone(), stop.clone(), messages.clone());
            let (name, pace) = (self.worker_name(i), (self.tokens, self.token_time));
            workers.spawn(
                async move { work(&api, &key, &name, pace, &board, &stop, &messages).await },
            );
        }
        let started = Instant::now();
        let mut requesters = JoinSet::new();
        for key in requester_keys {
            let (api, board, rounds, tokens) =
                (api.clone(), board.clone(), self.rounds, self.tokens);
            requesters.spawn(async move {
                let mut measured = Measured::default();
                for _ in 0..rounds {
                    if let Err(error) = stream_once(&api, &key, tokens, &board, &mut measured).await
                    {
                        measured.errors.push(error);
                    }
                }
                measured
            });
        }
        let mut all = Measured::default();
        while let Some(done) = requesters.join_next().await {
            let done = done?;
            all.first_token.extend(done.first_token);
            all.relay.extend(done.relay);
            all.token.extend(done.token);
            all.errors.extend(done.errors);
        }
        let elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        while let Some(done) = workers.join_next().await {
            if let Err(error) = done? {
                all.errors.push(error);
            }
        }
        all.progress_messages = messages.load(Ordering::Relaxed);
        self.report(&mut all, elapsed);
        if !all.errors.is_empty() {
            bail!(
                "{} streams failed; first: {}",
                all.errors.len(),
                all.errors[0]
            );
        }
        Ok(())
    }

    fn worker_name(&self, index: usize) -> String {
        format!("{}-stream-worker-{index}", self.run_id)
    }

    fn report(&self, measured: &mut Measured, elapsed: Duration) {
        measured.first_token.sort_unstable();
        measured.relay.sort_unstable();
        measured.token.sort_unstable();
        let row = |name: &str, samples: &[Duration]| {
            let ms = |q| percentile(samples, q).map_or("-".into(), |d| format!("{:.2}", millis(d)));
            println!(
                "{name:<22} {:>8} {:>9} {:>9} {:>9} {:>9}",
                samples.len(),
                ms(0.50),
                ms(0.90),
                ms(0.99),
                ms(1.0)
            );
        };
        println!();
        println!(
            "{} concurrent streams × {} rounds, {} tokens each, a token every {} ms per stream",
            self.streams,
            self.rounds,
            self.tokens,
            self.token_time.as_millis()
        );
        println!(
            "{:<22} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        row("time to first token", &measured.first_token);
        row("server (sent → read)", &measured.relay);
        row("token (made → read)", &measured.token);
        let tokens = measured.token.len() as f64;
        println!(
            "tokens relayed: {tokens:.0} in {:.2} s ({:.0} tokens/s), {} progress messages ({:.1} tokens each)",
            elapsed.as_secs_f64(),
            tokens / elapsed.as_secs_f64(),
            measured.progress_messages,
            tokens / (measured.progress_messages.max(1) as f64)
        );
        println!("failed streams: {}", measured.errors.len());
    }
}

/// A simulated worker: pops, "generates" `tokens` tokens a `token_time` apart while sending
/// them as progress, submits the whole text; until told to stop.
async fn work(
    api: &Api,
    key: &str,
    name: &str,
    (tokens, token_time): (u32, Duration),
    board: &Clockboard,
    stop: &AtomicBool,
    messages: &AtomicU64,
) -> Result<(), String> {
    while !stop.load(Ordering::Relaxed) {
        let Some(job) = api.pop(key, name).await? else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let (mut text, mut pending, mut offset) = (String::new(), String::new(), 0usize);
        let mut numbers = Vec::new();
        let mut next_token = Instant::now();
        let mut made = 0;
        while made < tokens {
            tokio::time::sleep_until(next_token.into()).await;
            // Every token due by now, as a real worker's queue holds them after a slow send.
            while made < tokens && Instant::now() >= next_token {
                let (number, token) = board.token();
                numbers.push(number);
                pending.push_str(&token);
                made += 1;
                next_token += token_time;
            }
            board.sending(&numbers);
            numbers.clear();
            let cancelled = api.progress(key, &job.id, &pending, offset).await?;
            messages.fetch_add(1, Ordering::Relaxed);
            offset += pending.len();
            text.push_str(&std::mem::take(&mut pending));
            if cancelled {
                break;
            }
        }
        api.submit(key, &job.id, &text).await?;
    }
    Ok(())
}

/// One streamed completion: checks that the tokens come in order, each once, and records
/// when each arrived.
async fn stream_once(
    api: &Api,
    key: &str,
    tokens: u32,
    board: &Clockboard,
    measured: &mut Measured,
) -> Result<(), String> {
    let asked = Instant::now();
    let mut stream = api
        .stream_completion(key, "Tell me a story", tokens)
        .await?;
    let (mut text, mut seen, mut last) = (String::new(), 0u32, None::<u64>);
    while let Some(piece) = stream.next_text().await? {
        let now = Instant::now();
        if text.is_empty() && seen == 0 && !piece.is_empty() {
            measured.first_token.push(now - asked);
        }
        text.push_str(&piece);
        // Whole markers only; a marker cut between two pieces waits for the rest.
        while let Some(end) = text.find(']') {
            let marker = text[..=end].to_string();
            text.drain(..=end);
            let number: u64 = marker
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("not a token: {marker:?}"))?;
            if last.is_some_and(|l| number <= l) {
                return Err(format!("token {number} after {last:?}"));
            }
            last = Some(number);
            seen += 1;
            let times = board.of(number).ok_or("a token nobody generated")?;
            measured
                .token
                .push(now.saturating_duration_since(times.generated));
            let sent = times.sent.ok_or("a token read before it was sent")?;
            measured.relay.push(now.saturating_duration_since(sent));
        }
    }
    if seen != tokens {
        return Err(format!("{seen} of {tokens} tokens arrived"));
    }
    Ok(())
}
