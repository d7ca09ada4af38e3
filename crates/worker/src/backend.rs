//! What generates the text: our engine, or a bridge to another server.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_channel::mpsc;
use protocol::{ChatTemplateInfo, ScoreCheck, TextScores};
use web_time::Instant;

use crate::job::{without_nul, Limits, TextJob};

/// A finished generation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generated {
    pub text: String,
    pub tokens: usize,
    /// The generated token ids, the end-of-text token included when generation ended there
    /// (so that a check scores the decision to stop too); `None` from back ends that cannot
    /// know them.
    pub token_ids: Option<Vec<u32>>,
    /// Tokens of the prompt as the back end counted them, if it says.
    pub prompt_tokens: Option<usize>,
    /// It stopped short of its natural end: at the job's deadline, or because the requester
    /// went away.
    pub cut_short: bool,
    /// `stop` (the text ended, or a stop sequence came) or `length`, if the back end says.
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The back end could not generate (it is down, it refused, it crashed).
    #[error("{0}")]
    Failed(String),
    /// The worker was told to stop at once.
    #[error("cancelled")]
    Cancelled,
}

/// Why a generation must stop before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nobody waits for the result any more: submit what there is.
    RequesterGone,
    /// The worker stops at once: hand the job back.
    Shutdown,
}

/// What the loop and a running generation share: when it must end, a way to stop it, how far
/// it got (for the status line), and, for a job someone streams, where its text goes.
#[derive(Clone)]
pub struct JobControl {
    pub deadline: Instant,
    stop: Arc<AtomicU8>,
    tokens: Arc<AtomicUsize>,
    text: Option<mpsc::UnboundedSender<String>>,
}

const RUNNING: u8 = 0;
const REQUESTER_GONE: u8 = 1;
const SHUTDOWN: u8 = 2;
/// The job is over; nothing to stop any more.
const FINISHED: u8 = 3;

impl JobControl {
    pub fn new(deadline: Instant) -> Self {
        JobControl {
            deadline,
            stop: Arc::new(AtomicU8::new(RUNNING)),
            tokens: Arc::new(AtomicUsize::new(0)),
            text: None,
        }
    }

    /// This control, and the text the back end sends through it as it generates.
    pub fn streaming(mut self) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (sender, receiver) = mpsc::unbounded();
        self.text = Some(sender);
        (self, receiver)
    }

    /// Called by the back end as tokens arrive, with the text they completed. The streamed
    /// text loses its NUL characters as the submitted one does, so the two agree.
    pub fn add_tokens(&self, n: usize, text: &str) {
        self.tokens.fetch_add(n, Ordering::Relaxed);
        // Only a streamed job's text is copied here, per token; the others wait for the submit.
        if let Some(sender) = &self.text {
            let text = without_nul(text);
            if !text.is_empty() {
                let _ = sender.unbounded_send(text);
            }
        }
    }

    /// Ends the text stream: what was sent can still be read, nothing more comes.
    pub fn end_text(&self) {
        if let Some(sender) = &self.text {
            sender.close_channel();
        }
    }

    pub fn tokens(&self) -> usize {
        self.tokens.load(Ordering::Relaxed)
    }

    pub fn stop(&self, reason: StopReason) {
        let code = match reason {
            StopReason::RequesterGone => REQUESTER_GONE,
            StopReason::Shutdown => SHUTDOWN,
        };
        self.stop.fetch_max(code, Ordering::SeqCst);
    }

    /// Marks the job over, so that a later shutdown has nothing to stop here.
    pub fn finish(&self) {
        self.stop.store(FINISHED, Ordering::SeqCst);
    }

    pub fn is_finished(&self) -> bool {
        self.stop.load(Ordering::SeqCst) == FINISHED
    }

    pub fn stop_reason(&self) -> Option<StopReason> {
        match self.stop.load(Ordering::SeqCst) {
            REQUESTER_GONE => Some(StopReason::RequesterGone),
            SHUTDOWN => Some(StopReason::Shutdown),
            _ => None,
        }
    }

    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Whether the generation should end now (asked to, or out of time).
    pub fn should_stop(&self) -> bool {
        self.stop_reason().is_some() || self.past_deadline()
    }
}

pub trait Backend {
    /// The models it serves, by the names it announces to the server.
    fn models(&self) -> Vec<String>;
    fn limits(&self) -> Limits;
    /// One line for logs: what runs the model, and where.
    fn describe(&self) -> String;
    /// The model's chat template, for the server to render chat requests with.
    fn chat_template(&self) -> Option<ChatTemplateInfo> {
        None
    }
    /// Why it cannot generate any more (its GPU was lost), if so: the loop then stops.
    fn failure(&self) -> Option<String> {
        None
    }
    fn generate(
        &self,
        job: &TextJob,
        control: &JobControl,
    ) -> impl Future<Output = Result<Generated, BackendError>>;
    /// Whether it can score other workers' generations ([`Backend::score`]), which takes
    /// running the model itself.
    fn can_score(&self) -> bool {
        false
    }
    /// Scores another worker's generation of `job` (a check job): how each of its tokens stands
    /// under the model and the job's sampling rules, and whether its token ids give its text.
    fn score(
        &self,
        _job: &TextJob,
        _check: &ScoreCheck,
    ) -> impl Future<Output = Result<TextScores, BackendError>> {
        async { Err(BackendError::Failed("this back end cannot score".into())) }
    }
}
