//! The relay of live generation events: text a worker streams for a job, and the end of a job,
//! from whichever server instance the worker talks to, to whichever instance the requester
//! waits on. Nothing here is stored: the final submit, in the database, is the truth; events
//! only let a requester see it sooner.
//!
//! With SQLite (one process) events go through memory. With PostgreSQL they go through the
//! database's own LISTEN/NOTIFY, so that every instance on the database hears every event and
//! hands it to its local listeners; no broker of our own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

use crate::error::Result;

/// The PostgreSQL channel the events travel on.
const CHANNEL: &str = "potluck_relay";
/// NOTIFY payloads must stay under 8000 bytes; longer deltas are split.
const MAX_DELTA_BYTES: usize = 6_000;
/// Events a slow listener may fall behind by before it misses some (it then waits for the
/// final result instead).
const BACKLOG: usize = 1024;
/// Requests whose streamed text so far an instance keeps for listeners who arrive late.
const MAX_TEXTS: usize = 10_000;
/// How long such a text is kept at most when its job's end was never heard of.
const TEXT_TTL: Duration = Duration::from_secs(30 * 60);

/// What happens to one request's jobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RelayEvent {
    /// Text a worker generated for a job, after `offset` bytes of it.
    Delta {
        job_id: String,
        offset: u64,
        text: String,
    },
    /// A job ended (submitted, faulted, or its request cancelled): read its result.
    JobEnded { job_id: String },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    request_id: String,
    /// When it was sent (ms since the epoch), for the relay's lag in the operator's metrics;
    /// 0 from an instance of an older version.
    #[serde(default)]
    sent_at: i64,
    #[serde(flatten)]
    event: RelayEvent,
}

enum Transport {
    Memory,
    Postgres(PgPool),
}

pub struct Relay {
    listeners: Mutex<HashMap<String, broadcast::Sender<RelayEvent>>>,
    /// The text each request's streamed job sent so far, as this instance heard it, so that a
    /// listener who arrives after the first tokens still gets them all (a web page subscribes
    /// only once it shows the request, when a fast worker may have begun). In memory only, and
    /// dropped when the job ends. Locked after `listeners`, never alone in `dispatch`.
    texts: Mutex<HashMap<String, (Instant, TextFollower)>>,
    transport: Transport,
}

/// The events of one request, until dropped.
pub struct Subscription {
    pub events: broadcast::Receiver<RelayEvent>,
    /// The request's streamed text up to the first of `events`: start following from here.
    pub text_so_far: TextFollower,
    request_id: String,
    relay: Arc<Relay>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut listeners = self
            .relay
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // This receiver still counts until it is dropped, right after.
        if listeners
            .get(&self.request_id)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            listeners.remove(&self.request_id);
        }
    }
}

impl Relay {
    /// Events in memory, for a single process.
    pub fn in_memory() -> Arc<Relay> {
        Arc::new(Relay {
            listeners: Mutex::new(HashMap::new()),
            texts: Mutex::new(HashMap::new()),
            transport: Transport::Memory,
        })
    }

    /// Events through PostgreSQL's LISTEN/NOTIFY, on the store's own pool (the listener keeps
    /// one of its connections): a pool of its own would add connections per instance, and
    /// many instances would run out of the server's.
    pub async fn postgres(pool: PgPool) -> Result<Arc<Relay>> {
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let relay = Arc::new(Relay {
            listeners: Mutex::new(HashMap::new()),
            texts: Mutex::new(HashMap::new()),
            transport: Transport::Postgres(pool),
        });
        let weak = Arc::downgrade(&relay);
        tokio::spawn(async move {
            loop {
                // recv reconnects by itself after a lost connection (events meanwhile are
                // lost, which listeners survive: they fall back on the database).
                let notification = match listener.recv().await {
                    Ok(n) => n,
                    Err(error) => {
                        tracing::warn!(%error, "relay listener");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let Some(relay) = weak.upgrade() else { break };
                match serde_json::from_str::<Envelope>(notification.payload()) {
                    Ok(envelope) => {
                        if envelope.sent_at > 0 {
                            // Across instances, this includes the difference of their clocks.
                            let lag = (crate::now_ms() - envelope.sent_at).max(0);
                            metrics::histogram!("potluck_relay_lag_seconds")
                                .record(lag as f64 / 1000.0);
                        }
                        relay.dispatch(&envelope.request_id, envelope.event)
                    }
                    Err(error) => tracing::warn!(%error, "unreadable relay event"),
                }
            }
        });
        Ok(relay)
    }

    pub fn subscribe(self: &Arc<Self>, request_id: &str) -> Subscription {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let events = listeners
            .entry(request_id.to_string())
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe();
        // Under the listeners' lock, as in `dispatch`: no delta falls between the two.
        let text_so_far = self
            .texts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(request_id)
            .map(|(_, text)| text.clone())
            .unwrap_or_default();
        Subscription {
            events,
            text_so_far,
            request_id: request_id.to_string(),
            relay: self.clone(),
        }
    }

    /// Whether anyone on this instance listens to the request (on PostgreSQL, listeners on
    /// other instances count too, so this is only a hint).
    pub fn has_local_listener(&self, request_id: &str) -> bool {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(request_id)
    }

    pub async fn publish(&self, request_id: &str, event: RelayEvent) -> Result<()> {
        match &self.transport {
            Transport::Memory => {
                self.dispatch(request_id, event);
                Ok(())
            }
            Transport::Postgres(pool) => {
                for piece in split(event) {
                    let envelope = Envelope {
                        request_id: request_id.to_string(),
                        sent_at: crate::now_ms(),
                        event: piece,
                    };
                    let payload = serde_json::to_string(&envelope).unwrap_or_default();
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(payload)
                        .execute(pool)
                        .await?;
                }
                Ok(())
            }
        }
    }

    fn dispatch(&self, request_id: &str, event: RelayEvent) {
        let listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        self.keep_text(request_id, &event);
        if let Some(tx) = listeners.get(request_id) {
            // No receiver left is fine: the requester went away.
            let _ = tx.send(event);
        }
    }

    /// Updates the request's text so far with a delta, or forgets it when a job ended.
    fn keep_text(&self, request_id: &str, event: &RelayEvent) {
        let mut texts = self.texts.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            RelayEvent::Delta {
                job_id,
                offset,
                text,
            } => {
                if texts.len() >= MAX_TEXTS && !texts.contains_key(request_id) {
                    texts.retain(|_, (since, _)| since.elapsed() < TEXT_TTL);
                    if texts.len() >= MAX_TEXTS {
                        return;
                    }
                }
                let (_, follower) = texts
                    .entry(request_id.to_string())
                    .or_insert_with(|| (Instant::now(), TextFollower::default()));
                follower.accept(job_id, *offset, text);
            }
            RelayEvent::JobEnded { .. } => {
                texts.remove(request_id);
            }
        }
    }
}

/// A delta in pieces small enough for a NOTIFY payload (cut at character boundaries).
fn split(event: RelayEvent) -> Vec<RelayEvent> {
    let RelayEvent::Delta {
        job_id,
        offset,
        text,
    } = event
    else {
        return vec![event];
    };
    let mut pieces = Vec::new();
    let mut rest = text.as_str();
    let mut at = offset;
    while rest.len() > MAX_DELTA_BYTES {
        let mut cut = MAX_DELTA_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(RelayEvent::Delta {
            job_id: job_id.clone(),
            offset: at,
            text: rest[..cut].to_string(),
        });
        at += cut as u64;
        rest = &rest[cut..];
    }
    pieces.push(RelayEvent::Delta {
        job_id,
        offset: at,
        text: rest.to_string(),
    });
    pieces
}

/// Follows the text of one job of a request through its deltas, as a stream shows it: the
/// first job to send text is the one followed, repeats are dropped, and after a gap (a delta
/// that went missing) nothing more is taken: the rest comes from the result.
#[derive(Clone, Debug, Default)]
pub struct TextFollower {
    job: Option<String>,
    text: String,
    gap: bool,
}

impl TextFollower {
    /// What of this delta is new; it is added to the text followed.
    pub fn accept<'a>(&mut self, job_id: &str, offset: u64, delta: &'a str) -> &'a str {
        if self.gap || self.job.get_or_insert_with(|| job_id.to_string()) != job_id {
            return "";
        }
        let have = self.text.len() as u64;
        let new = match offset.cmp(&have) {
            std::cmp::Ordering::Equal => delta,
            // A repeat: only what is past the text so far.
            std::cmp::Ordering::Less => delta.get((have - offset) as usize..).unwrap_or_default(),
            std::cmp::Ordering::Greater => {
                self.gap = true;
                ""
            }
        };
        self.text.push_str(new);
        new
    }

    /// Some deltas were missed (the listener fell behind).
    pub fn lost_some(&mut self) {
        self.gap = true;
    }

    /// Whether `job_id` is the job being followed.
    pub fn follows(&self, job_id: &str) -> bool {
        self.job.as_deref() == Some(job_id)
    }

    /// The text followed so far.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_late_listener_gets_the_text_so_far_until_the_job_ends() {
        let relay = Relay::in_memory();
        let delta = |offset, text: &str| RelayEvent::Delta {
            job_id: "j".into(),
            offset,
            text: text.into(),
        };
        relay.publish("r", delta(0, "Once ")).await.unwrap();
        relay.publish("r", delta(5, "upon")).await.unwrap();
        let mut late = relay.subscribe("r");
        assert_eq!(late.text_so_far.text(), "Once upon");
        relay.publish("r", delta(9, " a time")).await.unwrap();
        let RelayEvent::Delta { offset, text, .. } = late.events.recv().await.unwrap() else {
            panic!("a delta");
        };
        assert_eq!(late.text_so_far.accept("j", offset, &text), " a time");
        let job_ended = RelayEvent::JobEnded { job_id: "j".into() };
        relay.publish("r", job_ended).await.unwrap();
        assert_eq!(
            relay.subscribe("r").text_so_far.text(),
            "",
            "forgotten at the end"
        );
    }

    #[test]
    fn a_follower_takes_one_job_without_repeats_and_stops_at_a_gap() {
        let mut follower = TextFollower::default();
        assert_eq!(follower.accept("a", 0, "Once "), "Once ");
        assert!(follower.follows("a"));
        assert_eq!(
            follower.accept("b", 0, "Other"),
            "",
            "another job of the request"
        );
        assert_eq!(follower.accept("a", 0, "Once upon"), "upon", "a resend");
        assert_eq!(follower.accept("a", 9, " a time"), " a time");
        assert_eq!(follower.text(), "Once upon a time");
        assert_eq!(follower.accept("a", 99, "later"), "", "a gap");
        assert_eq!(follower.accept("a", 16, "!"), "", "nothing after a gap");
        let mut behind = TextFollower::default();
        behind.lost_some();
        assert_eq!(behind.accept("a", 0, "x"), "");
    }

    #[tokio::test]
    async fn events_reach_the_listeners_of_their_request_only() {
        let relay = Relay::in_memory();
        let mut mine = relay.subscribe("r1");
        let mut other = relay.subscribe("r2");
        let delta = RelayEvent::Delta {
            job_id: "j".into(),
            offset: 0,
            text: "Hi".into(),
        };
        relay.publish("r1", delta.clone()).await.unwrap();
        assert_eq!(mine.events.recv().await.unwrap(), delta);
        assert!(other.events.try_recv().is_err());
        drop(mine);
        assert!(!relay.has_local_listener("r1"));
        assert!(relay.has_local_listener("r2"));
    }

    #[test]
    fn long_deltas_are_split_at_character_boundaries() {
        let text = "é".repeat(MAX_DELTA_BYTES);
        let pieces = split(RelayEvent::Delta {
            job_id: "j".into(),
            offset: 10,
            text: text.clone(),
        });
        let mut joined = String::new();
        let mut expected_offset = 10;
        for piece in pieces {
            let RelayEvent::Delta { offset, text, .. } = piece else {
                panic!()
            };
            assert_eq!(offset, expected_offset);
            assert!(text.len() <= MAX_DELTA_BYTES);
            expected_offset += text.len() as u64;
            joined += &text;
        }
        assert_eq!(joined, text);
    }
}
