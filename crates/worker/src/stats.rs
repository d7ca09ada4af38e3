//! What the worker has done and is doing, for its status line and its exit summary.

use std::sync::Mutex;
use std::time::Duration;

/// What one of the worker's job slots is doing.
#[derive(Clone, Debug, PartialEq)]
pub enum SlotState {
    Starting,
    /// Asking for work; none was waiting last time.
    Idle,
    Generating {
        job: String,
        tokens: usize,
        max_tokens: usize,
    },
    /// Scoring another worker's generation (a check job).
    Checking {
        job: String,
    },
    Submitting {
        job: String,
    },
    /// The server cannot be reached; trying again after a pause.
    Reconnecting {
        error: String,
    },
    /// The worker's owner put it in maintenance mode: no jobs until they lift it.
    Maintenance,
    Stopped,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub jobs_done: u64,
    pub jobs_faulted: u64,
    /// Jobs handed back: lost to a server that gave them to another worker meanwhile.
    pub jobs_lost: u64,
    pub tokens: u64,
    pub kudos: f64,
    /// Time spent generating, for the token rate.
    pub generating: Duration,
    pub slots: Vec<SlotState>,
}

impl Snapshot {
    pub fn tokens_per_second(&self) -> f64 {
        let secs = self.generating.as_secs_f64();
        if secs > 0.0 {
            self.tokens as f64 / secs
        } else {
            0.0
        }
    }
}

/// How a job ended, as far as the worker can tell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Done { tokens: usize, reward: f64 },
    Faulted,
    Lost,
}

pub struct Stats {
    inner: Mutex<Snapshot>,
}

impl Stats {
    pub fn new(slots: usize) -> Self {
        Stats {
            inner: Mutex::new(Snapshot {
                slots: vec![SlotState::Starting; slots],
                ..Snapshot::default()
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Snapshot) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set(&self, slot: usize, state: SlotState) {
        self.with(|s| s.slots[slot] = state);
    }

    pub fn record(&self, outcome: Outcome, generating: Duration) {
        self.with(|s| {
            s.generating += generating;
            match outcome {
                Outcome::Done { tokens, reward } => {
                    s.jobs_done += 1;
                    s.tokens += tokens as u64;
                    s.kudos += reward;
                }
                Outcome::Faulted => s.jobs_faulted += 1,
                Outcome::Lost => s.jobs_lost += 1,
            }
        });
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with(|s| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_only_generating_time() {
        let stats = Stats::new(1);
        stats.record(
            Outcome::Done {
                tokens: 30,
                reward: 1.5,
            },
            Duration::from_secs(3),
        );
        stats.record(Outcome::Faulted, Duration::from_secs(1));
        stats.set(0, SlotState::Idle);
        let s = stats.snapshot();
        assert_eq!(
            (s.jobs_done, s.jobs_faulted, s.tokens, s.kudos),
            (1, 1, 30, 1.5)
        );
        assert_eq!(s.tokens_per_second(), 7.5);
        assert_eq!(s.slots, vec![SlotState::Idle]);
    }
}
