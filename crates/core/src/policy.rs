//! The operator's knobs: who may use the server, the queue's timeouts, limits and retention, the
//! models it knows, how untrusted work is verified, and the news it publishes.

use crate::model_reference::ModelReference;
use crate::outbound::OutboundPolicy;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Policy {
    /// Private mode: no anonymous use and no self-registration; every account comes from the
    /// operator's admin CLI.
    pub private: bool,
    /// Time a text worker has to submit a popped job.
    pub text_job_ttl: Duration,
    /// Floor of the time an image worker has; the ttl grows with the work.
    pub image_job_ttl_base: Duration,
    /// Time an alchemist has to submit a popped interrogation form (the AI Horde's 3 minutes).
    pub alchemy_job_ttl: Duration,
    /// When set, every job gets exactly this ttl (tests use a short one).
    pub job_ttl_override: Option<Duration>,
    /// A request no worker touched for this long expires.
    pub request_expiry: Duration,
    /// Lease expiries a generation survives before its request faults.
    pub max_restarts: u32,
    /// How long results stay after the requester fetched them.
    pub result_retention: Duration,
    /// How long metadata of finished requests stays (without prompts or results).
    pub history_retention: Duration,
    /// How long a client address hash can be tied to its address: the hashes' secret is
    /// replaced this often, and hashes older than this are dropped.
    pub address_hash_lifetime: Duration,
    /// A worker that has not popped for this long is offline.
    pub worker_stale: Duration,
    /// Active requests one anonymous client may have at once.
    pub anonymous_concurrency: u32,
    /// Active requests a registered user may have at once, unless a moderator sets another value.
    pub default_concurrency: u32,
    /// The models the cluster knows, with their sizes.
    pub model_reference: Arc<ModelReference>,
    pub trust: TrustPolicy,
    /// The operator's news, newest first (`/api/v2/status/news`, the home page).
    pub news: Arc<Vec<protocol::Newspiece>>,
    /// Which addresses the server's own requests (source images, webhooks) may reach.
    pub outbound: OutboundPolicy,
}

/// How untrusted workers' results are checked and paid (`horde/trust.rs`).
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Until a worker has passed this many checks since its last failure, every one of its jobs
    /// is checked (after that about this many of every N, N its passed checks), and a passed
    /// check does not release held kudos yet.
    pub initial_checks: u32,
    /// The share of a worker's jobs checked at the least, however long its clean record.
    pub check_rate_floor: f64,
    /// Passed checks without a failure after which a worker is trusted automatically.
    pub auto_trust_checks: u32,
    /// ... if it exists for at least this long.
    pub auto_trust_age: Duration,
    /// Failed checks at which a worker is paused.
    pub pause_after_failed_checks: u32,
    /// A check no checker took within this time is given up (the job's reward stays held, and
    /// may be released by a later passed check). It holds a copy of the prompt and the result,
    /// so it lives no longer than a waiting request does.
    pub check_expiry: Duration,
    /// How far (in logits) a token may sit outside a limit of the request before it counts as
    /// a violation: differences between devices are far smaller.
    pub logit_tolerance: f32,
    /// The same for top-p, in probability.
    pub mass_tolerance: f32,
    /// How improbable (in standard deviations) the generation may be under the model.
    pub max_surprise: f64,
    /// The share of tokens outside the limits a re-tokenized text (from a worker that reports
    /// no token ids) may have.
    pub tokenized_violation_share: f64,
    /// Bits of the 64-bit perceptual hashes two images of the same seed may differ in.
    pub image_hash_distance: u32,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        TrustPolicy {
            initial_checks: 10,
            check_rate_floor: 0.05,
            auto_trust_checks: 50,
            auto_trust_age: Duration::from_secs(7 * 24 * 60 * 60),
            pause_after_failed_checks: 2,
            check_expiry: Duration::from_secs(20 * 60),
            logit_tolerance: 0.5,
            mass_tolerance: 0.02,
            max_surprise: 5.0,
            tokenized_violation_share: 0.1,
            image_hash_distance: 10,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            private: false,
            text_job_ttl: Duration::from_secs(150),
            image_job_ttl_base: Duration::from_secs(30),
            alchemy_job_ttl: Duration::from_secs(3 * 60),
            job_ttl_override: None,
            request_expiry: Duration::from_secs(20 * 60),
            max_restarts: 3,
            result_retention: Duration::from_secs(10 * 60),
            history_retention: Duration::from_secs(24 * 60 * 60),
            address_hash_lifetime: Duration::from_secs(24 * 60 * 60),
            worker_stale: Duration::from_secs(5 * 60),
            anonymous_concurrency: 10,
            default_concurrency: 30,
            model_reference: ModelReference::bundled(),
            trust: TrustPolicy::default(),
            news: Arc::default(),
            outbound: OutboundPolicy::default(),
        }
    }
}

impl Policy {
    pub fn text_ttl_secs(&self) -> u64 {
        self.job_ttl_override
            .unwrap_or(self.text_job_ttl)
            .as_secs()
            .max(1)
    }

    pub fn alchemy_ttl_secs(&self) -> u64 {
        self.job_ttl_override
            .unwrap_or(self.alchemy_job_ttl)
            .as_secs()
            .max(1)
    }

    /// The AI Horde's image ttl: 30 s + 2 s × steps × pixels / 512².
    pub fn image_ttl_secs(&self, width: u32, height: u32, steps: u32) -> u64 {
        if let Some(ttl) = self.job_ttl_override {
            return ttl.as_secs().max(1);
        }
        let scale = f64::from(width) * f64::from(height) / (512.0 * 512.0);
        self.image_job_ttl_base.as_secs() + (2.0 * f64::from(steps) * scale).ceil() as u64
    }
}
