//! The worker loop's guarantees, against a scripted server (answers given in advance, calls
//! recorded) and a back end that writes a known text: retries, exactly-once submits with the
//! token ids, honest faults, deadlines, refusals, shutdown, streaming and the chat template's
//! announcement. The whole program against real servers is tested in compat/test_worker.py.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::{
    ChatTemplateInfo, GenerationPayloadKobold, GenerationProgress, GenerationProgressAnswer,
    GenerationSubmitted, PopInputKobold, ScoreCheck, ScoredTokens, SubmitInputKobold, SubmitState,
    TextScores, TokenScore, UserDetails,
};
use serde_json::json;
use worker::{
    ApiError, Backend, BackendError, Clock, Generated, HordeApi, JobControl, Limits, Shutdown,
    Stats, StopReason, TextJob, Worker, WorkerError, WorkerOptions,
};

/// A server whose answers are scripted, one queue per endpoint; when a queue is empty, pops
/// find nothing and submits are accepted.
#[derive(Default)]
struct ScriptedServer {
    pops: Mutex<VecDeque<Result<GenerationPayloadKobold, ApiError>>>,
    submits: Mutex<VecDeque<Result<GenerationSubmitted, ApiError>>>,
    submitted: Mutex<Vec<SubmitInputKobold>>,
    progress_answers: Mutex<VecDeque<Result<GenerationProgressAnswer, ApiError>>>,
    progressed: Mutex<Vec<GenerationProgress>>,
    pop_inputs: Mutex<Vec<PopInputKobold>>,
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

    fn progress(&self, answer: Result<GenerationProgressAnswer, ApiError>) -> &Self {
        self.progress_answers.lock().unwrap().push_back(answer);
        self
    }

    fn submitted(&self) -> Vec<SubmitInputKobold> {
        self.submitted.lock().unwrap().clone()
    }

    fn progressed(&self) -> Vec<GenerationProgress> {
        self.progressed.lock().unwrap().clone()
    }

    /// Whether the pops offered to score, in order.
    fn offered_to_score(&self) -> Vec<bool> {
        let pops = self.pop_inputs.lock().unwrap();
        pops.iter().map(|p| p.can_score).collect()
    }

    /// The chat templates the pops carried, in order.
    fn announced_templates(&self) -> Vec<Option<ChatTemplateInfo>> {
        let pops = self.pop_inputs.lock().unwrap();
        pops.iter().map(|p| p.chat_template.clone()).collect()
    }
}

impl HordeApi for ScriptedServer {
    async fn find_user(&self) -> Result<UserDetails, ApiError> {
        Err(ApiError::Unreachable("not scripted".into()))
    }

    async fn pop_text(&self, input: &PopInputKobold) -> Result<GenerationPayloadKobold, ApiError> {
        self.pop_calls.fetch_add(1, Ordering::SeqCst);
        self.pop_inputs.lock().unwrap().push(input.clone());
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

    async fn send_progress(
        &self,
        input: &GenerationProgress,
    ) -> Result<GenerationProgressAnswer, ApiError> {
        self.progressed.lock().unwrap().push(input.clone());
        let next = self.progress_answers.lock().unwrap().pop_front();
        next.unwrap_or(Ok(GenerationProgressAnswer { cancelled: false }))
    }
}

/// Writes "<prompt>0 <prompt>1 ...", a token each `token_time`, up to `max_tokens`, minding
/// the deadline and the job's control; scores a check with one score per reported id (the
/// text matches if it is "P0 "); or fails, when told to.
#[derive(Default)]
struct Writer {
    fail: bool,
    /// Fails as a lost GPU does: for good.
    lost: bool,
    token_time: Duration,
}

const TEMPLATE: &str = "{% for m in messages %}{{ m.content }}{% endfor %}";

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

    fn chat_template(&self) -> Option<ChatTemplateInfo> {
        Some(ChatTemplateInfo {
            template: TEMPLATE.into(),
            bos_token: String::new(),
            eos_token: "</s>".into(),
        })
    }

    fn failure(&self) -> Option<String> {
        self.lost.then(|| "the GPU was lost".into())
    }

    async fn generate(
        &self,
        job: &TextJob,
        control: &JobControl,
    ) -> Result<Generated, BackendError> {
        if self.fail || self.lost {
            return Err(BackendError::Failed("the back end is down".into()));
        }
        let mut text = String::new();
        let mut tokens = 0;
        while tokens < job.settings.max_tokens {
            if control.stop_reason() == Some(StopReason::Shutdown) {
                return Err(BackendError::Cancelled);
            }
            if control.should_stop() {
                break;
            }
            tokio::time::sleep(self.token_time).await;
            let piece = format!("{}{tokens} ", job.prompt);
            text.push_str(&piece);
            tokens += 1;
            control.add_tokens(1, &piece);
        }
        Ok(Generated {
            text,
            tokens,
            // Token i is id i.
            token_ids: Some((0..tokens as u32).collect()),
            prompt_tokens: Some(1),
            cut_short: tokens < job.settings.max_tokens,
            finish_reason: Some("length"),
        })
    }

    fn can_score(&self) -> bool {
        true
    }

    async fn score(&self, _job: &TextJob, check: &ScoreCheck) -> Result<TextScores, BackendError> {
        if self.fail {
            return Err(BackendError::Failed("the back end is down".into()));
        }
        let ids = check.token_ids.clone().unwrap_or_default();
        Ok(TextScores {
            tokens: ScoredTokens::Reported,
            text_matches: check.text == "P0 ",
            greedy: false,
            scores: ids
                .into_iter()
                .map(|token| TokenScore {
                    token,
                    ..TokenScore::default()
                })
                .collect(),
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
    job_with(
        id,
        json!({"prompt": "P", "max_length": max_length, "seed": 9}),
        ttl,
    )
}

/// A job whose requester streams it.
fn streamed_job(id: &str, max_length: u32) -> Result<GenerationPayloadKobold, ApiError> {
    let payload = json!({"prompt": "P", "max_length": max_length, "potluck_stream": true});
    job_with(id, payload, 60)
}

fn job_with(
    id: &str,
    payload: serde_json::Value,
    ttl: u64,
) -> Result<GenerationPayloadKobold, ApiError> {
    Ok(GenerationPayloadKobold {
        id: Some(id.into()),
        ids: vec![id.into()],
        model: Some("m".into()),
        payload: payload.as_object().cloned(),
        ttl: Some(ttl),
        ..Default::default()
    })
}

/// The text the progress messages carried, checking that each starts where the last ended.
fn relayed_text(progressed: &[GenerationProgress]) -> String {
    let mut text = String::new();
    for message in progressed {
        assert_eq!(message.offset as usize, text.len(), "no gap, no repeat");
        text.push_str(&message.text);
    }
    text
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
    browser: bool,
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
            browser: false,
        }
    }

    /// Runs the loop until `done` holds (then shuts it down, once), and returns its result.
    async fn run(
        &self,
        backend: &Writer,
        done: impl Fn(&Harness) -> bool,
    ) -> Result<(), WorkerError> {
        let worker = Worker::new(
            &*self.server,
            backend,
            &TokioClock,
            WorkerOptions {
                name: "w".into(),
                threads: self.threads,
                nsfw: false,
                bridge_agent: "test:0:none".into(),
                browser: self.browser,
                keeps_prompts: false,
                idle_poll: Duration::from_millis(5),
                retry_pause: Duration::from_millis(5),
            },
            &self.stats,
            &self.shutdown,
        );
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
        .all(|s| s.generation.as_deref() == Some("P0 P1 P2 P3 ") && s.seed == 9));
    assert_eq!(
        (submitted[2].prompt_tokens, submitted[2].completion_tokens),
        (Some(1), Some(4))
    );
    assert_eq!(submitted[2].finish_reason.as_deref(), Some("length"));
    // Nobody streamed it: no progress messages.
    assert!(h.server.progressed().is_empty());
    let stats = h.stats.snapshot();
    assert_eq!((stats.jobs_done, stats.tokens, stats.kudos), (1, 4, 1.5));
}

#[tokio::test]
async fn the_generated_token_ids_are_submitted() {
    let h = Harness::new();
    h.server.pop(job("j1", 4, 60));
    h.run(&Writer::default(), submitted_once).await.unwrap();
    let submitted = &h.server.submitted()[0];
    assert_eq!(submitted.token_ids.as_deref(), Some(&[0, 1, 2, 3][..]));
    assert_eq!(submitted.scores, None);
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
async fn a_back_end_that_lost_its_gpu_hands_its_job_back_and_stops() {
    let h = Harness::new();
    h.server.pop(job("j1", 4, 60)).pop(job("j2", 4, 60));
    let backend = Writer {
        lost: true,
        ..Writer::default()
    };
    let result = h.run(&backend, |_| false).await;
    assert!(
        matches!(result, Err(WorkerError::BackendFailed(reason)) if reason == "the GPU was lost")
    );
    let submitted = h.server.submitted();
    assert_eq!(submitted.len(), 1, "j2 is never taken");
    assert_eq!(submitted[0].state, SubmitState::Faulted);
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
    let submitted = &h.server.submitted()[0];
    let tokens = submitted
        .generation
        .as_deref()
        .unwrap()
        .split_whitespace()
        .count();
    assert!((10..=19).contains(&tokens), "{tokens} tokens in 1.8 s");
    assert_eq!(submitted.completion_tokens, Some(tokens as u32));
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
    assert_eq!(
        submitted[0]
            .generation
            .as_deref()
            .unwrap()
            .split_whitespace()
            .count(),
        20
    );

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

#[tokio::test]
async fn a_streamed_job_sends_its_text_as_it_goes_without_gaps() {
    let h = Harness::new();
    h.server.pop(streamed_job("j1", 12));
    // The first message is lost on the way: its text goes again with the next one.
    h.server.progress(Err(unreachable()));
    let steady = Writer {
        token_time: Duration::from_millis(15),
        ..Writer::default()
    };
    h.run(&steady, submitted_once).await.unwrap();
    let progressed = h.server.progressed();
    assert!(
        progressed.len() >= 4,
        "{} messages for 12 tokens",
        progressed.len()
    );
    assert!(progressed.iter().all(|p| p.id.as_deref() == Some("j1")));
    let delivered = relayed_text(&progressed[1..]);
    let submitted = &h.server.submitted()[0];
    assert_eq!(Some(delivered.as_str()), submitted.generation.as_deref());
    assert_eq!(submitted.state, SubmitState::Ok);
}

#[tokio::test]
async fn nul_characters_are_neither_streamed_nor_submitted() {
    let h = Harness::new();
    // The scripted writer repeats the prompt, so every piece it writes has a NUL in it.
    let payload = json!({"prompt": "P\u{0}", "max_length": 3, "potluck_stream": true});
    h.server.pop(job_with("j1", payload, 60));
    h.run(&Writer::default(), submitted_once).await.unwrap();
    let submitted = h.server.submitted()[0].generation.clone().unwrap();
    assert_eq!(submitted, "P0 P1 P2 ");
    assert_eq!(relayed_text(&h.server.progressed()), submitted);
}

#[tokio::test]
async fn a_requester_who_went_away_stops_the_generation_and_gets_what_there_is() {
    let h = Harness::new();
    h.server.pop(streamed_job("j1", 64));
    h.server
        .progress(Ok(GenerationProgressAnswer { cancelled: false }))
        .progress(Ok(GenerationProgressAnswer { cancelled: true }));
    let steady = Writer {
        token_time: Duration::from_millis(20),
        ..Writer::default()
    };
    h.run(&steady, submitted_once).await.unwrap();
    let submitted = &h.server.submitted()[0];
    let tokens = submitted.completion_tokens.unwrap();
    assert!(
        (2..10).contains(&tokens),
        "stopped after {tokens} of 64 tokens"
    );
    assert_eq!(submitted.state, SubmitState::Ok);
    assert!(submitted
        .generation
        .as_deref()
        .unwrap()
        .starts_with("P0 P1 "));
}

#[tokio::test]
async fn a_server_without_streaming_is_not_asked_again() {
    let h = Harness::new();
    h.server.pop(streamed_job("j1", 10));
    h.server.progress(Err(refused(404, "NotFound")));
    let steady = Writer {
        token_time: Duration::from_millis(15),
        ..Writer::default()
    };
    h.run(&steady, submitted_once).await.unwrap();
    assert_eq!(h.server.progressed().len(), 1);
    let submitted = &h.server.submitted()[0];
    assert_eq!(
        submitted
            .generation
            .as_deref()
            .unwrap()
            .split_whitespace()
            .count(),
        10
    );
}

#[tokio::test]
async fn the_chat_template_is_announced_first_and_again_after_an_outage() {
    let h = Harness::new();
    h.server
        .pop(Ok(GenerationPayloadKobold::default()))
        .pop(Err(unreachable()))
        .pop(Ok(GenerationPayloadKobold::default()));
    h.run(&Writer::default(), |h| {
        h.server.pop_calls.load(Ordering::SeqCst) >= 4
    })
    .await
    .unwrap();
    let announced: Vec<bool> = h
        .server
        .announced_templates()
        .iter()
        .map(|t| t.as_ref().is_some_and(|t| t.template == TEMPLATE))
        .collect();
    // First pop: announced. Second: not again. Third, after the outage: again. Then not.
    assert_eq!(announced[..4], [true, false, true, false]);
}

/// A check job for job `id`: score `text` and its reported ids.
fn check_job(id: &str, text: &str, ids: Vec<u32>) -> Result<GenerationPayloadKobold, ApiError> {
    let mut popped = job(id, 4, 60)?;
    popped.score_check = Some(ScoreCheck {
        text: text.into(),
        token_ids: Some(ids),
    });
    Ok(popped)
}

#[tokio::test]
async fn a_check_job_is_scored_and_its_scores_submitted_in_place_of_a_generation() {
    let h = Harness::new();
    h.server
        .pop(check_job("c1", "P0 ", vec![0, 2]))
        .pop(job("j2", 2, 60));
    h.run(&Writer::default(), |h| h.server.submitted().len() == 2)
        .await
        .unwrap();
    let submitted = h.server.submitted();
    let check = &submitted[0];
    assert_eq!(
        (
            check.id.as_deref(),
            check.state,
            check.generation.as_deref()
        ),
        (Some("c1"), SubmitState::Ok, None)
    );
    assert_eq!((&check.token_ids, check.completion_tokens), (&None, None));
    let scores = check.scores.as_ref().unwrap();
    assert!(scores.text_matches);
    assert_eq!(
        scores.scores.iter().map(|s| s.token).collect::<Vec<_>>(),
        [0, 2]
    );
    // The next job is generated as ever.
    assert_eq!(submitted[1].generation.as_deref(), Some("P0 P1 "));
    assert_eq!(submitted[1].scores, None);
    // A check counts as a job done, with no tokens generated.
    let stats = h.stats.snapshot();
    assert_eq!((stats.jobs_done, stats.tokens), (2, 2));
    assert!(h.server.offered_to_score().iter().all(|&offered| offered));
}

#[tokio::test]
async fn a_check_that_fails_is_submitted_faulted() {
    let h = Harness::new();
    h.server.pop(check_job("c1", "P0 ", vec![0]));
    let backend = Writer {
        fail: true,
        ..Writer::default()
    };
    h.run(&backend, submitted_once).await.unwrap();
    let submitted = &h.server.submitted()[0];
    assert_eq!(
        (submitted.state, submitted.scores.as_ref()),
        (SubmitState::Faulted, None)
    );
    assert_eq!(h.stats.snapshot().jobs_faulted, 1);
}

#[tokio::test]
async fn a_browser_worker_never_offers_to_score() {
    let h = Harness {
        browser: true,
        ..Harness::new()
    };
    h.run(&Writer::default(), |h| {
        h.server.pop_calls.load(Ordering::SeqCst) >= 2
    })
    .await
    .unwrap();
    assert!(h.server.offered_to_score().iter().all(|&offered| !offered));
}
