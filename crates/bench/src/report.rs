//! What each loop measured, merged at the end into one table.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The timed calls, plus the whole cycle as the requester sees it.
#[derive(Clone, Copy)]
pub enum Call {
    Async,
    Pop,
    Submit,
    Status,
    /// From sending `async` to reading the verified result.
    Job,
}

const CALLS: [(Call, &str); 5] = [
    (Call::Async, "async"),
    (Call::Pop, "pop"),
    (Call::Submit, "submit"),
    (Call::Status, "status"),
    (Call::Job, "job (async→done)"),
];

/// How the requests and jobs of a run ended.
#[derive(Default, Debug)]
pub struct Counts {
    /// Requests the server accepted (202).
    pub submitted: u64,
    /// Accepted requests that came back done with the text their worker submitted.
    pub completed: u64,
    /// Accepted requests that came back done with another text, or with none.
    pub mismatched: u64,
    /// Accepted requests the server reported faulted.
    pub faulted: u64,
    /// Accepted requests still not done when the requester gave up waiting.
    pub lost: u64,
    /// `async` calls the server refused.
    pub refused: u64,
    pub pops_with_job: u64,
    pub pops_empty: u64,
    /// Jobs whose submit the server accepted.
    pub delivered: u64,
    /// Jobs popped whose prompt was not made by this run (left over in a reused server's queue).
    pub foreign: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.submitted += other.submitted;
        self.completed += other.completed;
        self.mismatched += other.mismatched;
        self.faulted += other.faulted;
        self.lost += other.lost;
        self.refused += other.refused;
        self.pops_with_job += other.pops_with_job;
        self.pops_empty += other.pops_empty;
        self.delivered += other.delivered;
        self.foreign += other.foreign;
    }
}

/// One loop's measurements; loops own theirs, so recording needs no locking.
#[derive(Default)]
pub struct Tally {
    latencies: [Vec<Duration>; CALLS.len()],
    failures: [u64; CALLS.len()],
    /// Error label ("pop: HTTP 403 WrongCredentials") → occurrences.
    pub errors: BTreeMap<String, u64>,
    pub counts: Counts,
}

impl Tally {
    /// Records a call that began at `started`: its latency if it succeeded, its error if not.
    pub fn observe<T>(&mut self, call: Call, started: Instant, result: &Result<T, String>) {
        match result {
            Ok(_) => self.succeeded(call, started),
            Err(label) => self.failed(call, label),
        }
    }

    pub fn succeeded(&mut self, call: Call, started: Instant) {
        self.latencies[call as usize].push(started.elapsed());
    }

    pub fn failed(&mut self, call: Call, label: &str) {
        self.failures[call as usize] += 1;
        self.error(call, label);
    }

    /// Counts an anomaly in an answer that is not a failed call.
    pub fn error(&mut self, call: Call, label: &str) {
        let name = CALLS[call as usize].1;
        *self.errors.entry(format!("{name}: {label}")).or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.latencies.iter_mut().zip(other.latencies) {
            mine.extend(theirs);
        }
        for (mine, theirs) in self.failures.iter_mut().zip(other.failures) {
            *mine += theirs;
        }
        for (label, count) in other.errors {
            *self.errors.entry(label).or_default() += count;
        }
        self.counts.add(&other.counts);
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Prints the latency table, the outcome counts and the `jobs/s` line.
pub fn print(tally: &mut Tally, elapsed: Duration, orphaned: usize) {
    println!();
    println!(
        "{:<18} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "call", "ok", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (call, name) in CALLS {
        let samples = &mut tally.latencies[call as usize];
        samples.sort_unstable();
        let ms = |q| percentile(samples, q).map_or("-".into(), |d| format!("{:.2}", millis(d)));
        println!(
            "{name:<18} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
            samples.len(),
            tally.failures[call as usize],
            ms(0.50),
            ms(0.90),
            ms(0.99),
            ms(1.0),
        );
    }
    let c = &tally.counts;
    println!();
    println!(
        "requests: {} submitted, {} completed and verified, {} wrong result, {} faulted, {} lost (not done in time), {} refused at async",
        c.submitted, c.completed, c.mismatched, c.faulted, c.lost, c.refused
    );
    println!(
        "workers:  {} pops with a job, {} empty, {} jobs delivered, {} foreign, {} delivered but never collected",
        c.pops_with_job, c.pops_empty, c.delivered, c.foreign, orphaned
    );
    println!("errors:   {}", tally.error_total());
    for (label, count) in &tally.errors {
        println!("  {count:>7}  {label}");
    }
    println!(
        "total jobs: {} in {:.2} s",
        c.completed,
        elapsed.as_secs_f64()
    );
    println!("jobs/s: {:.1}", c.completed as f64 / elapsed.as_secs_f64());
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&samples, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&samples, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
