//! The requester and worker loops, and the ledger that checks every result.

use crate::api::{Api, Generation, Job};
use crate::report::{Call, Tally};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When requesters stop starting new requests.
pub enum Budget {
    Until(Instant),
    Jobs(AtomicU64),
}

impl Budget {
    /// Whether one more request may start (and, for a job budget, uses it up).
    fn take(&self) -> bool {
        match self {
            Budget::Until(deadline) => Instant::now() < *deadline,
            Budget::Jobs(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// How long a worker keeps trying to hand in a result the server could not take for a
/// passing reason (a 5xx or no answer, say while its database restarts), as real workers do.
const SUBMIT_RETRY_FOR: Duration = Duration::from_secs(30);

/// What a worker handed in for one job, kept until a requester collects it.
struct Delivery {
    worker: String,
    prompt: String,
    text: String,
    /// The submit got no clear answer (it failed after a try that may have landed).
    unclear: bool,
}

/// Whether a call failed for a passing reason: the server erred or did not answer. Such a
/// call may still have taken effect.
fn passing(error: &str) -> bool {
    error.starts_with("HTTP 5") || !error.starts_with("HTTP ")
}

/// Everything the loops share.
pub struct Load {
    /// One per server instance; requester and worker `i` use `apis[i % len]`.
    pub apis: Vec<Api>,
    /// Prefix of every prompt this run makes, so that jobs of other runs can be told apart.
    pub run_id: String,
    pub budget: Budget,
    /// Pause between status polls of one request.
    pub poll: Duration,
    /// Pause after a pop that found no job (or failed).
    pub backoff: Duration,
    /// How long a requester waits for its request before counting it lost.
    pub request_timeout: Duration,
    /// Set once every requester is done; workers then finish their job in hand and stop.
    pub stop: AtomicBool,
    /// Job id → what its worker submitted. Collected entries are removed, so what is left at
    /// the end was delivered but never seen by any requester.
    ledger: Mutex<HashMap<String, Delivery>>,
    /// How long each verified job took, since the soak sampler last took them.
    job_times: Mutex<Vec<Duration>>,
    /// Prompts whose request got no clear answer: it may have been queued after all, and its
    /// result then reaches no requester.
    unclear_prompts: Mutex<HashSet<String>>,
}

impl Load {
    /// A load with the default pauses and an empty budget, to be set before the run.
    pub fn new(apis: Vec<Api>, run_id: String) -> Load {
        assert!(!apis.is_empty(), "at least one server");
        Load {
            apis,
            run_id,
            budget: Budget::Jobs(0.into()),
            poll: Duration::from_millis(10),
            backoff: Duration::from_millis(10),
            request_timeout: Duration::from_secs(60),
            stop: AtomicBool::new(false),
            ledger: Mutex::default(),
            job_times: Mutex::default(),
            unclear_prompts: Mutex::default(),
        }
    }

    /// The server instance requester or worker `index` talks to.
    fn api(&self, index: usize) -> &Api {
        &self.apis[index % self.apis.len()]
    }

    /// The times of the jobs verified since the last call.
    pub fn take_job_times(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.job_times.lock().unwrap())
    }

    /// Deliveries no requester collected, though the server answered every call of theirs.
    pub fn orphaned(&self) -> usize {
        self.uncollected().0
    }

    /// Deliveries no requester collected after a call of theirs got no clear answer (their
    /// request's or their submit's): expected when the server failed mid-call.
    pub fn unclear(&self) -> usize {
        self.uncollected().1
    }

    fn uncollected(&self) -> (usize, usize) {
        let unclear_prompts = self.unclear_prompts.lock().unwrap();
        let ledger = self.ledger.lock().unwrap();
        let unclear = ledger
            .values()
            .filter(|d| d.unclear || unclear_prompts.contains(&d.prompt))
            .count();
        (ledger.len() - unclear, unclear)
    }

    /// Keeps one request in flight until the budget is used up.
    pub async fn requester(&self, index: usize, apikey: String) -> Tally {
        let mut tally = Tally::default();
        let mut sequence = 0u64;
        while self.budget.take() {
            sequence += 1;
            let prompt = format!("{} requester {index} request {sequence}", self.run_id);
            self.one_request(self.api(index), &apikey, &prompt, &mut tally)
                .await;
        }
        tally
    }

    async fn one_request(&self, api: &Api, apikey: &str, prompt: &str, tally: &mut Tally) {
        let started = Instant::now();
        let accepted = api.request(apikey, prompt).await;
        tally.observe(Call::Async, started, &accepted);
        let id = match accepted {
            Ok(id) => id,
            Err(error) => {
                if passing(&error) {
                    self.unclear_prompts
                        .lock()
                        .unwrap()
                        .insert(prompt.to_owned());
                }
                tally.counts.refused += 1;
                // A refusal (say, a concurrency limit) would otherwise be retried in a tight loop.
                tokio::time::sleep(self.backoff).await;
                return;
            }
        };
        tally.counts.submitted += 1;
        let Some(generations) = self.wait_until_done(api, &id, tally).await else {
            return;
        };
        match self.check(prompt, &generations) {
            Ok(()) => {
                tally.counts.completed += 1;
                tally.succeeded(Call::Job, started);
                self.job_times.lock().unwrap().push(started.elapsed());
            }
            Err(problem) => {
                tally.counts.mismatched += 1;
                tally.failed(Call::Job, problem);
            }
        }
    }

    /// Polls the request's status until it is done; `None` if it faulted or took too long.
    async fn wait_until_done(
        &self,
        api: &Api,
        id: &str,
        tally: &mut Tally,
    ) -> Option<Vec<Generation>> {
        let deadline = Instant::now() + self.request_timeout;
        while Instant::now() < deadline {
            tokio::time::sleep(self.poll).await;
            let started = Instant::now();
            let status = api.status(id).await;
            tally.observe(Call::Status, started, &status);
            let Ok(status) = status else { continue };
            if status.faulted {
                tally.counts.faulted += 1;
                tally.failed(Call::Job, "faulted");
                return None;
            }
            if status.done && status.generations.is_empty() {
                // Seen on the original AI Horde under load; count it and keep asking.
                tally.error(Call::Status, "done without generations");
            } else if status.done {
                return Some(status.generations);
            }
        }
        tally.counts.lost += 1;
        tally.failed(Call::Job, "not done in time (lost)");
        None
    }

    /// Whether the one generation is the text a worker submitted for this very prompt.
    fn check(&self, prompt: &str, generations: &[Generation]) -> Result<(), &'static str> {
        let [generation] = generations else {
            return Err("not exactly one generation");
        };
        // The text names its job; the original AI Horde does not list generation ids.
        let job_id = job_named_in(&generation.text).ok_or("text names no job")?;
        if !generation.id.is_empty() && generation.id != job_id {
            return Err("generation id differs from the job its text names");
        }
        let delivery = self
            .ledger
            .lock()
            .unwrap()
            .remove(job_id)
            .ok_or("job no worker submitted, or collected twice")?;
        if delivery.prompt != prompt {
            return Err("result of another request's job");
        }
        if generation.text != delivery.text {
            return Err("text differs from what the worker submitted");
        }
        if !generation.worker_name.is_empty() && generation.worker_name != delivery.worker {
            return Err("credited to another worker");
        }
        Ok(())
    }

    /// Pops and submits until told to stop.
    pub async fn worker(&self, index: usize, name: String, apikey: String) -> Tally {
        let mut tally = Tally::default();
        while !self.stop.load(Ordering::Relaxed) {
            let found_job = self.work_once(index, &name, &apikey, &mut tally).await;
            if !matches!(found_job, Ok(true)) {
                tokio::time::sleep(self.backoff).await;
            }
        }
        tally
    }

    /// One pop by worker `index`, and the submit of the job it brought, if any; `Ok(true)` if
    /// there was a job.
    pub async fn work_once(
        &self,
        index: usize,
        name: &str,
        apikey: &str,
        tally: &mut Tally,
    ) -> Result<bool, String> {
        let started = Instant::now();
        let api = self.api(index);
        let popped = api.pop(apikey, name).await;
        tally.observe(Call::Pop, started, &popped);
        match popped? {
            Some(job) => {
                tally.counts.pops_with_job += 1;
                self.deliver(api, name, apikey, job, tally).await;
                Ok(true)
            }
            None => {
                tally.counts.pops_empty += 1;
                Ok(false)
            }
        }
    }

    /// Submits a text naming the job, so a requester can tell whose result it got.
    async fn deliver(&self, api: &Api, worker: &str, apikey: &str, job: Job, tally: &mut Tally) {
        let text = result_text(&job.id, worker, &job.prompt);
        if job.prompt.starts_with(&self.run_id) {
            // Recorded before submitting: the requester may see the result before submit returns.
            self.ledger.lock().unwrap().insert(
                job.id.clone(),
                Delivery {
                    worker: worker.to_owned(),
                    prompt: job.prompt,
                    text: text.clone(),
                    unclear: false,
                },
            );
        } else {
            // Still submitted, so that a reused server's queue drains; no requester of ours waits.
            tally.counts.foreign += 1;
        }
        let give_up = Instant::now() + SUBMIT_RETRY_FOR;
        let mut unclear = false;
        loop {
            let started = Instant::now();
            let submitted = api.submit(apikey, &job.id, &text).await;
            tally.observe(Call::Submit, started, &submitted);
            match submitted {
                Ok(()) => {
                    tally.counts.delivered += 1;
                    return;
                }
                Err(error) if passing(&error) && Instant::now() < give_up => {
                    unclear = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(_) => break,
            }
        }
        let mut ledger = self.ledger.lock().unwrap();
        if !unclear {
            ledger.remove(&job.id);
        } else if let Some(delivery) = ledger.get_mut(&job.id) {
            delivery.unclear = true;
        }
    }
}

/// The text a worker submits: it names the job, so the result can be traced back to it.
fn result_text(job_id: &str, worker: &str, prompt: &str) -> String {
    format!("job {job_id} done by {worker} for [{prompt}]")
}

/// The job id a [`result_text`] names.
fn job_named_in(text: &str) -> Option<&str> {
    let (id, _) = text.strip_prefix("job ")?.split_once(' ')?;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_texts_name_their_job() {
        let text = result_text("3baf-42", "w 1", "bench r0 #1");
        assert_eq!(job_named_in(&text), Some("3baf-42"));
        assert_eq!(job_named_in("some other text"), None);
    }
}
