//! Verification of untrusted work: which finished jobs are checked, the checks themselves (a
//! request of their own, for a trusted worker), and the checkers' submits, whose verdict the
//! store settles in one transaction (`Store::settle_check`).
//!
//! - A worker a moderator vouched for (its owner is trusted; never a browser tab) is paid at
//!   once and never checked; it may check others.
//! - Any other worker's rewards are held (`held_kudos`, the AI Horde's `evaluating_kudos`)
//!   until verified. Every one of its jobs is checked until it passed
//!   `TrustPolicy::initial_checks` checks since its last failure, then fewer, down to
//!   `check_rate_floor`. A passed check releases the job's reward and the unchecked ones
//!   earned before it; a failed one forfeits them, refunds the requester, withdraws the result
//!   if it was not fetched yet, raises the owner's suspicion and, repeated, pauses the worker.
//! - A long clean record (`auto_trust_checks` passed, none failed, `auto_trust_age` old) makes
//!   a worker trusted: paid at once, still spot-checked at the floor rate (a failure takes the
//!   reward back and the trust away), and never a checker.
//! - Text is checked by scoring where a trusted scoring worker serves the model, else (and for
//!   images) by a trusted worker generating the same again with the same seed.

use super::Horde;
use crate::error::{Rejection, Result};
use crate::kudos::Kudos;
use crate::now_ms;
use crate::policy::TrustPolicy;
use crate::store::{
    check_kind, verification, CheckRow, JobRow, NewCheck, NewRequest, RequestRow, SettleOutcome,
    Settlement, WorkerRow,
};
use crate::verdict::{self, Verdict};
use protocol::{GenerationSubmitted, ScoreCheck, SubmitInputKobold, TextScores, WorkerType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A scoring checker's pay, as a share of the checked job's reward: one prefill costs far less
/// than the generation it checks.
const SCORE_REWARD_SHARE: f64 = 0.25;

/// What a text check compares with, kept with the check (and purged with it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExpectedText {
    text: String,
    #[serde(default)]
    token_ids: Option<Vec<u32>>,
}

/// What an image check compares with: the checked image's perceptual hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExpectedImage {
    image_hash: u64,
}

/// How a finished job of a worker is paid and verified.
pub(super) struct Verification {
    /// The reward waits for verification.
    pub hold: bool,
    /// The job is checked.
    pub check: bool,
}

impl Horde {
    /// How a job `worker` finished now is paid and whether it is checked: a worker a moderator
    /// vouched for is neither held nor checked; any other is checked at its rate, and held
    /// unless its record made it trusted.
    pub(super) fn verification_for(&self, worker: &WorkerRow) -> Verification {
        if !worker.is_verified() {
            return Verification {
                hold: false,
                check: false,
            };
        }
        let rate = check_rate(&self.policy.trust, worker.clean_streak, worker.auto_trusted);
        Verification {
            hold: !worker.auto_trusted,
            check: rate >= 1.0 || rand::random::<f64>() < rate,
        }
    }

    /// A check of the text job `job`, which `worker` finished with `text` (and its token ids).
    pub(super) async fn text_check_of(
        &self,
        job: &JobRow,
        request: &RequestRow,
        worker: &WorkerRow,
        text: &str,
        token_ids: Option<&[u32]>,
        seed: &str,
    ) -> Result<NewCheck> {
        let kind = self.text_check_kind(&job.model, worker.owner_id).await?;
        let mut params = request.params.clone().map(|p| p.0).unwrap_or(json!({}));
        if kind == check_kind::REDO {
            params["sampler_seed"] = json!(seed);
        }
        let expected = ExpectedText {
            text: text.to_string(),
            token_ids: token_ids.map(<[u32]>::to_vec),
        };
        Ok(self.check_request(job, request, worker, kind, params, json!(expected)))
    }

    /// A check of the image job `job`: the same request and seed, for a trusted worker.
    pub(super) fn image_check_of(
        &self,
        job: &JobRow,
        request: &RequestRow,
        worker: &WorkerRow,
        seed: &str,
        image_hash: u64,
    ) -> NewCheck {
        let mut params = request.params.clone().map(|p| p.0).unwrap_or(json!({}));
        if let Some(payload) = params.get_mut("payload").and_then(Value::as_object_mut) {
            payload.insert("seed".into(), json!(seed));
        }
        let expected = ExpectedImage { image_hash };
        self.check_request(
            job,
            request,
            worker,
            check_kind::REDO,
            params,
            json!(expected),
        )
    }

    /// Scoring where a trusted worker that can score serves the model, else generating again
    /// where a trusted worker serves it at all, else scoring (the check waits for a scorer).
    async fn text_check_kind(&self, model: &str, checked_owner: i64) -> Result<&'static str> {
        let workers = self.store.workers(Some(WorkerType::Text.as_str())).await?;
        let checkers: Vec<&WorkerRow> = workers
            .iter()
            .filter(|w| w.may_check() && w.owner_id != checked_owner)
            .filter(|w| w.models.0.iter().any(|m| m == model))
            .collect();
        let scorer = checkers.iter().any(|w| w.can_score);
        Ok(if scorer || checkers.is_empty() {
            check_kind::SCORE
        } else {
            check_kind::REDO
        })
    }

    /// The check's request: the checked one's prompt and parameters, for trusted workers that
    /// serve the model, never the checked worker's owner's, and only those that keep nothing
    /// when the requester asked for that. It carries nobody's identity and costs nobody.
    fn check_request(
        &self,
        job: &JobRow,
        request: &RequestRow,
        worker: &WorkerRow,
        kind: &'static str,
        params: Value,
        expected: Value,
    ) -> NewCheck {
        NewCheck {
            request: NewRequest {
                id: uuid::Uuid::new_v4().to_string(),
                kind: request.kind.clone(),
                user_id: 0,
                client_hash: None,
                prompt: request.prompt.clone().unwrap_or_default(),
                params,
                models: vec![job.model.clone()],
                workers: Vec::new(),
                worker_blacklist: false,
                trusted_workers: true,
                workers_keep_nothing: request.workers_keep_nothing,
                nsfw: request.nsfw,
                r2: request.r2,
                shared: false,
                max_length: request.max_length,
                max_context_length: request.max_context_length,
                width: request.width,
                height: request.height,
                steps: request.steps,
                img2img: request.img2img,
                post_processors: request.post_processors,
                loras: request.loras,
                n: 1,
                // In line with the request it checks: checks neither starve requesters nor
                // wait behind everyone.
                priority: request.priority,
                kudos_estimate: Kudos::ZERO,
                // Its checker's pay comes from the check, not from a pricing of its own; it
                // costs nobody anything, and any trusted worker of the model may take it.
                pricing: None,
                tax: Kudos::ZERO,
                upfront_kudos: Kudos::ZERO,
                slow_workers: true,
                extra_slow_workers: true,
                validated_backends: false,
                disable_batching: false,
                check_kind: Some(kind.into()),
                exclude_owner: Some(worker.owner_id),
                // Checks cost nobody and report to nobody.
                shared_key_id: None,
                webhook: None,
                group_id: None,
                now: now_ms(),
            },
            expected,
        }
    }

    /// What a scoring checker is given with its job: the text and tokens to score.
    pub(super) async fn score_check_of(&self, request: &RequestRow) -> Result<Option<ScoreCheck>> {
        if request.check_kind.as_deref() != Some(check_kind::SCORE) {
            return Ok(None);
        }
        let expected = self.expected_text(request).await?;
        Ok(Some(ScoreCheck {
            text: expected.text,
            token_ids: expected.token_ids,
        }))
    }

    async fn expected_text(&self, request: &RequestRow) -> Result<ExpectedText> {
        let check = self.store.check_of_request(&request.id).await?;
        Ok(check
            .and_then(|c| c.expected)
            .and_then(|e| serde_json::from_value(e.0).ok())
            .unwrap_or_default())
    }

    /// A checker's submit of a text check: its scores, or the text generated again.
    pub(super) async fn submit_text_check(
        &self,
        job: &JobRow,
        request: &RequestRow,
        input: SubmitInputKobold,
    ) -> Result<GenerationSubmitted> {
        let check = self.existing_check(request).await?;
        let (verdict, things, reward) = if request.check_kind.as_deref() == Some(check_kind::SCORE)
        {
            let scores: TextScores = input.scores.ok_or_else(|| {
                Rejection::invalid_field(
                    "scores",
                    "BadRequest",
                    "This job is a check: submit the scores of its score_check",
                )
            })?;
            let verdict = verdict::scored_text(&scores, &self.policy.trust);
            let things = scores.scores.len() as f64;
            let reward = Kudos::from_f64(Kudos(check.reward).as_f64() * SCORE_REWARD_SHARE);
            (verdict, things, reward)
        } else {
            let expected = self.expected_text(request).await?;
            let again = input.generation.unwrap_or_default();
            let again_ids = input.token_ids.unwrap_or_default();
            let verdict = verdict::redone_text(
                expected.token_ids.as_deref().unwrap_or_default(),
                &again_ids,
                &expected.text,
                &again,
            );
            (verdict, again_ids.len() as f64, Kudos(check.reward))
        };
        self.settle(job, verdict, things, reward).await
    }

    /// A checker's submit of an image check: the picture generated again, compared with the
    /// checked one's hash.
    pub(super) async fn submit_image_check(
        &self,
        job: &JobRow,
        request: &RequestRow,
        image: &[u8],
        things: f64,
    ) -> Result<GenerationSubmitted> {
        let check = self.existing_check(request).await?;
        let expected: Option<ExpectedImage> = check
            .expected
            .and_then(|e| serde_json::from_value(e.0).ok());
        let verdict = match (expected, crate::image_hash::perceptual_hash(image)) {
            (Some(expected), Some(again)) => verdict::redone_image(
                crate::image_hash::distance(expected.image_hash, again),
                &self.policy.trust,
            ),
            // The checked image is gone (purged) or this one cannot be read: nothing to tell.
            _ => Verdict::Inconclusive(verdict::Findings {
                reason: "nothing to compare",
                ..Default::default()
            }),
        };
        self.settle(job, verdict, things, Kudos(check.reward)).await
    }

    /// The check the request `request` is (its checked job, what it moves).
    async fn existing_check(&self, request: &RequestRow) -> Result<CheckRow> {
        Ok(self
            .store
            .check_of_request(&request.id)
            .await?
            .ok_or_else(|| Rejection::not_found("InvalidJobID", "This check is gone"))?)
    }

    async fn settle(
        &self,
        job: &JobRow,
        verdict: Verdict,
        things: f64,
        checker_reward: Kudos,
    ) -> Result<GenerationSubmitted> {
        let trust = &self.policy.trust;
        let now = now_ms();
        let outcome = match verdict {
            Verdict::Passed(_) => verification::PASSED,
            Verdict::Failed(_) => verification::FAILED,
            Verdict::Inconclusive(_) => verification::INCONCLUSIVE,
        };
        let settlement = Settlement {
            check_job_id: job.id.clone(),
            checker_worker_id: job.worker_id.clone(),
            checker_reward,
            things,
            outcome,
            pause_after_failed_checks: i64::from(trust.pause_after_failed_checks),
            release_streak: i64::from(trust.initial_checks),
            auto_trust_checks: i64::from(trust.auto_trust_checks),
            auto_trust_created_before: now - trust.auto_trust_age.as_millis() as i64,
            now,
        };
        match self.store.settle_check(&settlement).await? {
            SettleOutcome::Settled {
                released,
                forfeited,
                refunded,
                requeued,
                paused,
                auto_trusted,
            } => {
                let findings = verdict.findings();
                tracing::info!(
                    check_job = %job.id,
                    outcome,
                    reason = findings.reason,
                    tokens = findings.tokens,
                    violations = findings.violations,
                    surprise = findings.surprise,
                    %released,
                    %forfeited,
                    %refunded,
                    requeued,
                    paused,
                    auto_trusted,
                    "check settled"
                );
                Ok(GenerationSubmitted {
                    reward: checker_reward.as_f64(),
                })
            }
            SettleOutcome::Refused(refused) => Err(super::jobs::refusal(&job.id, refused)),
        }
    }
}

/// The share of a verified worker's jobs that are checked: every one until it passed
/// `initial_checks` checks since its last failure, then `initial_checks` of every
/// `clean_streak`, never below the floor; a worker trusted for its record, the floor.
fn check_rate(trust: &TrustPolicy, clean_streak: i64, auto_trusted: bool) -> f64 {
    if auto_trusted {
        return trust.check_rate_floor;
    }
    let initial = f64::from(trust.initial_checks);
    let streak = clean_streak.max(0) as f64;
    if streak < initial {
        return 1.0;
    }
    (initial / streak).clamp(trust.check_rate_floor, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_rate_falls_with_a_clean_record_to_the_floor() {
        let trust = TrustPolicy::default();
        assert_eq!(check_rate(&trust, 0, false), 1.0);
        assert_eq!(check_rate(&trust, 9, false), 1.0);
        assert_eq!(check_rate(&trust, 20, false), 0.5);
        assert_eq!(check_rate(&trust, 100, false), 0.1);
        assert_eq!(check_rate(&trust, 10_000, false), trust.check_rate_floor);
        assert_eq!(check_rate(&trust, 0, true), trust.check_rate_floor);
    }
}
