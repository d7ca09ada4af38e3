//! The worker loop's guarantees, against a scripted server (answers given in advance, calls
//! recorded) and a back end that writes a known text: retries, exactly-once submits, honest
//! faults, deadlines, refusals and shutdown. The whole program against real servers is tested
//! in compat/test_worker.py.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::{
    GenerationPayloadKobold, GenerationSubmitted, PopInputKobold, SubmitInputKobold, SubmitState,
    UserDetails,
};
use serde_json::json;
use worker::{
    ApiError, Backend, BackendError, Clock, Generated, HordeApi, JobControl, Limits, Shutdown,
    Stats, TextJob, Worker, WorkerError, WorkerOptions,
};

/// A server whose answers are scripted, one queue per endpoint; when a queue is empty, pops
/// find nothing and submits are accepted.
#[derive(Default)]
struct ScriptedServer {
    pops: Mutex<VecDeque<Result<GenerationPayloadKobold, ApiError>>>,
    submits: Mutex<VecDeque<Result<GenerationSubmitted, ApiError>>>,
    submitted: Mutex<Vec<SubmitInputKobold>>,
    pop_calls: AtomicUsize,
}

impl ScriptedServer {
    fn pop(&self, answer: Result<GenerationPayloadKobold, ApiError>) -> &Self {
        self.pops.lock().unwrap().push_back(answer);
        self
    }

    fn submit(&self, answer: Result<GenerationSubmitted, ApiError>) -> &Self {
        self.submits.lock().unwrap().push_back(answer);
        self
    }

    fn submitted(&self) -> Vec<SubmitInputKobold> {
        self.submitted.lock().unwrap().clone()
    }
}

impl HordeApi for ScriptedServer {
    async fn find_user(&self) -> Result<UserDetails, ApiError> {
        Err(ApiError::Unreachable("not scripted".into()))
    }

    async fn pop_text(&self, _: &PopInputKobold) -> Result<GenerationPayloadKobold, ApiError> {
        self.pop_calls.fetch_add(1, Ordering::SeqCst);
        let next = self.pops.lock().unwrap().pop_front();
        next.unwrap_or_else(|| Ok(GenerationPayloadKobold::default()))
    }

    async fn submit_text(
        &self,
        input: &SubmitInputKobold,
    ) -> Result<GenerationSubmitted, ApiError> {
        self.submitted.lock().unwrap().push(input.clone());
        let next = self.submits.lock().unwrap().pop_front();
        next.unwrap_or(Ok(GenerationSubmitted { reward: 1.5 }))
    }
}

/// Writes "text of <prompt>", one token per 10 ms, up to `max_tokens`, minding the deadline
/// and the cancel token; or fails, when told to.
#[derive(Default)]
struct Writer {
    fail: bool,
    token_time: Duration,
}

impl Backend for Writer {
    fn models(&self) -> Vec<String> {
        vec!["m".into()]
    }

    fn limits(&self) -> Limits {
        Limits {
            max_length: 64,
            max_context_length: 512,
        }
    }

    fn describe(&self) -> String {
        "a scripted writer".into()
    }

    async fn generate(
        &self,
        job: &TextJob,
        control: &JobControl,
    ) -> Result<Generated, BackendError> {
        if self.fail {
            return Err(BackendError::Failed("the back end is down".into()));
        }
        let mut tokens = 0;
        while tokens < job.settings.max_tokens {
            if control.cancel.is_cancelled() {
                return Err(BackendError::Cancelled);
            }
            if control.past_deadline() {
                return Ok(Generated {
                    text: format!("cut {tokens}"),
                    tokens,
                    cut_at_deadline: true,
                });
            }
            tokio::time::sleep(self.token_time).await;
            tokens += 1;
            control.add_tokens(1);
        }
        Ok(Generated {
            text: format!("text of {}", job.prompt),
            tokens,
            cut_at_deadline: false,
        })
    }
}

struct TokioClock;

impl Clock for TokioClock {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn job(id: &str, max_length: u32, ttl: u64) -> Result<GenerationPayloadKobold, ApiError> {
    Ok(GenerationPayloadKobold {
        id: Some(id.into()),
        ids: vec![id.into()],
        model: Some("m".into()),
        payload: json!({"prompt": "P", "max_length": max_length, "seed": 9})
            .as_object()
            .cloned(),
        ttl: Some(ttl),
        ..Default::default()
    })
}

fn unreachable() -> ApiError {
    ApiError::Unreachable("connection refused".into())
}

fn refused(status: u16, rc: &str) -> ApiError {
    ApiError::Refused {
        status,
        rc: rc.into(),
        message: rc.into(),
    }
}

struct Harness {
    server: Arc<ScriptedServer>,
    stats: Arc<Stats>,
    shutdown: Arc<Shutdown>,
    threads: u32,
}

impl Harness {
    fn new() -> Self {
        Self::with_threads(1)
    }

    fn with_threads(threads: u32) -> Self {
        Harness {
            server: Arc::new(ScriptedServer::default()),
            stats: Arc::new(Stats::new(threads as usize)),
            shutdown: Arc::new(Shutdown::default()),
            threads,
        }
    }

    /// Runs the loop until `done` holds (then shuts it down, once), and returns its result.
    async fn run(
        &self,
        backend: &Writer,
        done: impl Fn(&Harness) -> bool,
    ) -> Result<(), WorkerError> {
        let worker = Worker {
            api: &*self.server,
            backend,
            clock: &TokioClock,
            options: WorkerOptions {
                name: "w".into(),
                threads: self.threads,
                nsfw: false,
                bridge_agent: "test:0:none".into(),
                idle_poll: Duration::from_millis(5),
                retry_pause: Duration::from_millis(5),
            },
            stats: &self.stats,
            shutdown: &self.shutdown,
        };
        let stop = async {
            while !done(self) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            self.shutdown.request();
        };
        let run = worker.run();
        tokio::pin!(run);
        let both = async {
            tokio::select! {
                result = &mut run => return result,
                () = stop => {}
            }
            run.await
        };
        tokio::time::timeout(Duration::from_secs(20), both)
            .await
            .expect("the loop stops when asked")
    }
}

fn submitted_once(h: &Harness) -> bool {
    !h.server.submitted().is_empty()
}

#[tokio::test]
async fn an_unreachable_server_is_retried_until_it_answers() {
    let h = Harness::new();
    h.server
        .pop(Err(unreachable()))
        .pop(Err(refused(503, "Unknown")))
        .pop(job("j1", 4, 60));
    h.server
        .submit(Err(unreachable()))
        .submit(Err(unreachable()));
    h.run(&Writer::default(), |h| h.stats.snapshot().jobs_done == 1)
        .await
        .unwrap();
    let submitted = h.server.submitted();
    // Two submits failed on the way; the third arrived. All three carried the same result.
    assert_eq!(submitted.len(), 3);
    assert!(submitted
        .iter()
        .all(|s| s.generation.as_deref() == Some("text of P") && s.seed == 9));
    let stats = h.stats.snapshot();
    assert_eq!((stats.jobs_done, stats.tokens, stats.kudos), (1, 4, 1.5));
}

#[tokio::test]
async fn a_submit_whose_answer_was_lost_is_not_counted_twice() {
    let h = Harness::new();
    h.server.pop(job("j1", 4, 60));
    // The first submit reached the server but its answer did not reach the worker.
    h.server
        .submit(Err(unreachable()))
        .submit(Err(refused(400, "DuplicateGen")));
    h.run(&Writer::default(), |h| h.stats.snapshot().jobs_done == 1)
        .await
        .unwrap();
    assert_eq!(h.server.submitted().len(), 2);
    let stats = h.stats.snapshot();
    assert_eq!((stats.jobs_done, stats.jobs_lost), (1, 0));
}

#[tokio::test]
async fn a_failing_back_end_reports_the_job_faulted_without_text() {
    let h = Harness::new();
    h.server.pop(job("j1", 4, 60));
    let backend = Writer {
        fail: true,
        ..Writer::default()
    };
    h.run(&backend, submitted_once).await.unwrap();
    let [submitted] = &h.server.submitted()[..] else {
        panic!("one submit")
    };
    assert_eq!(
        (submitted.state, submitted.generation.as_deref()),
        (SubmitState::Faulted, None)
    );
    assert_eq!(
        submitted.gen_metadata[0].reference.as_deref(),
        Some("the back end is down")
    );
    assert_eq!(h.stats.snapshot().jobs_faulted, 1);
}

#[tokio::test]
async fn generation_stops_at_the_deadline_and_what_there_is_is_submitted() {
    let h = Harness::new();
    // A 2-second ttl leaves 1.8 s; at 100 ms a token, 64 tokens would take 6.4 s.
    h.server.pop(job("j1", 64, 2));
    let slow = Writer {
        token_time: Duration::from_millis(100),
        ..Writer::default()
    };
    h.run(&slow, submitted_once).await.unwrap();
    let text = h.server.submitted()[0].generation.clone().unwrap();
    let tokens: usize = text.strip_prefix("cut ").unwrap().parse().unwrap();
    assert!((10..=19).contains(&tokens), "{tokens} tokens in 1.8 s");
}

#[tokio::test]
async fn a_job_given_away_meanwhile_is_let_go() {
    let h = Harness::new();
    h.server.pop(job("j1", 4, 60));
    h.server.submit(Err(refused(400, "AbortedGen")));
    h.run(&Writer::default(), |h| h.stats.snapshot().jobs_lost == 1)
        .await
        .unwrap();
    assert_eq!(h.server.submitted().len(), 1);
}

#[tokio::test]
async fn a_refused_worker_stops_with_the_reason() {
    let h = Harness::new();
    h.server.pop(Err(refused(401, "InvalidAPIKey")));
    let result = h.run(&Writer::default(), |_| false).await;
    assert!(matches!(result, Err(WorkerError::Refused(e)) if e.rc() == Some("InvalidAPIKey")));
}

#[tokio::test]
async fn maintenance_mode_waits_without_stopping() {
    let h = Harness::new();
    h.server.pop(Err(refused(403, "WorkerMaintenance")));
    h.run(&Writer::default(), |h| {
        h.server.pop_calls.load(Ordering::SeqCst) >= 1 && {
            h.stats.snapshot().slots[0] == worker::SlotState::Maintenance
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn shutting_down_finishes_the_job_and_a_second_request_hands_it_back() {
    // Drain: asked to stop while generating, it finishes and submits.
    let h = Harness::new();
    h.server.pop(job("j1", 20, 60));
    let slow = Writer {
        token_time: Duration::from_millis(20),
        ..Writer::default()
    };
    h.run(&slow, |h| {
        matches!(
            h.stats.snapshot().slots[0],
            worker::SlotState::Generating { .. }
        )
    })
    .await
    .unwrap();
    let submitted = h.server.submitted();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].generation.as_deref(), Some("text of P"));

    // Abort: asked twice, it stops generating and reports the job faulted, which puts it back
    // in the queue.
    let h = Harness::new();
    h.server.pop(job("j2", 60, 60));
    let generating = |h: &Harness| {
        matches!(
            h.stats.snapshot().slots[0],
            worker::SlotState::Generating { .. }
        )
    };
    let shutdown = h.shutdown.clone();
    let twice = move |h: &Harness| {
        if generating(h) {
            shutdown.request();
            return true;
        }
        false
    };
    h.run(&slow, twice).await.unwrap();
    let submitted = h.server.submitted();
    assert_eq!(submitted.len(), 1);
    assert_eq!(
        (submitted[0].state, submitted[0].generation.as_deref()),
        (SubmitState::Faulted, None)
    );
}

#[tokio::test]
async fn threads_run_jobs_side_by_side() {
    let h = Harness::with_threads(2);
    h.server.pop(job("j1", 10, 60)).pop(job("j2", 10, 60));
    let slow = Writer {
        token_time: Duration::from_millis(30),
        ..Writer::default()
    };
    let both_generating = |h: &Harness| {
        let slots = h.stats.snapshot().slots;
        slots
            .iter()
            .all(|s| matches!(s, worker::SlotState::Generating { .. }))
    };
    h.run(&slow, both_generating).await.unwrap();
    // Shut down while both ran: both finished and were submitted.
    let mut ids: Vec<_> = h
        .server
        .submitted()
        .into_iter()
        .filter_map(|s| s.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["j1", "j2"]);
}
