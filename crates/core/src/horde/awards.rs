//! Kudos given for something other than work: a moderator's award, and the reward for rating
//! the images of a shared image request.
//!
//! Ratings are kept with their request, whose row they go with after the history window, and
//! never with who rated: the AI Horde sends each set, with the requester's name, kudos, account
//! age and the rater's IP address, to a third-party ratings server; Potluck sends nothing
//! anywhere. Whoever has the request's id may rate it, once; the reward goes to the requester
//! and never exceeds what the request cost, less one kudos, so rating never earns more than
//! the request spent.

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::kudos::Kudos;
use crate::now_ms;
use crate::store::{request_state, NewRatings};
use protocol::{AestheticsPayload, GenerationSubmitted, KudosAwarded, WorkerType};

/// The most one award may give.
const MAX_AWARD: f64 = 1e9;
/// The AI Horde's rewards: per rating, per artifacts rating, and for pointing at the best.
const PER_RATING: Kudos = Kudos(500);
const PER_ARTIFACTS: Kudos = Kudos(500);
const FOR_BEST: Kudos = Kudos(1500);

fn invalid(rc: &'static str, message: impl Into<String>) -> Rejection {
    Rejection::bad_request(rc, message)
}

impl Horde {
    /// Awards kudos to an account, `name#id`. The AI Horde lets one account (its operator's)
    /// award; Potluck lets its admins.
    pub async fn award_kudos(
        &self,
        account: &Account,
        username: &str,
        amount: f64,
    ) -> Result<KudosAwarded> {
        // The AI Horde lets only its operator's own account award kudos.
        if !account.user.admin {
            return Err(
                Rejection::forbidden("NotAllowedAwards", "Only admins can award kudos.").into(),
            );
        }
        if !(amount > 0.0 && amount <= MAX_AWARD) {
            return Err(Rejection::invalid_field(
                "amount",
                "KudosValidationError",
                format!("amount must be above 0 and at most {MAX_AWARD:.0}"),
            )
            .into());
        }
        let bad_name = || invalid("InvalidAwardUsername", "Invalid target username.");
        let id: i64 = username
            .rsplit_once('#')
            .and_then(|(_, id)| id.trim().parse().ok())
            .ok_or_else(bad_name)?;
        if id == 0 {
            return Err(invalid("KudosAwardToAnon", "Cannot award anon. No go.").into());
        }
        let recipient = self.existing_user(id).await.map_err(|_| bad_name())?;
        if recipient.flagged {
            return Err(invalid("TargetAccountFlagged", "Target user is rejected.").into());
        }
        let amount = Kudos::from_f64(amount);
        self.store.award_kudos(id, amount, now_ms()).await?;
        tracing::info!(moderator = account.user.id, user = id, amount = %amount, "kudos awarded");
        self.record_moderation(account, "kudos awarded", format!("user #{id}: {amount}"))
            .await?;
        Ok(KudosAwarded {
            awarded: amount.as_f64(),
        })
    }

    /// Rates the images of a finished, shared image request: its best image, and/or a rating
    /// of each.
    pub async fn rate_images(
        &self,
        request_id: &str,
        input: AestheticsPayload,
    ) -> Result<GenerationSubmitted> {
        let request = self.find_request(request_id, WorkerType::Image).await?;
        if request.state != request_state::DONE {
            return Err(invalid(
                "AestheticsNotCompleted",
                "You can only aesthetically rate completed requests!",
            )
            .into());
        }
        if !request.shared {
            return Err(invalid(
                "AestheticsNotPublic",
                "You can only aesthetically rate requests you have opted to share publicly",
            )
            .into());
        }
        let jobs: Vec<_> = self
            .store
            .jobs_of(request_id)
            .await?
            .into_iter()
            .filter(|j| j.is_finished())
            .collect();
        let unknown = |id: &str| {
            invalid(
                "ProcGenNotFound",
                format!("Image with ID '{id}' not found in this request."),
            )
        };
        let mut seen: Vec<&str> = Vec::new();
        for rating in &input.ratings {
            if !jobs.iter().any(|j| j.id == rating.id) {
                return Err(unknown(&rating.id).into());
            }
            if seen.contains(&rating.id.as_str()) {
                return Err(invalid(
                    "AestheticsDuplicate",
                    "Duplicate image ID found in your ratings.",
                )
                .into());
            }
            seen.push(&rating.id);
            crate::horde::validate::in_range("ratings.rating", rating.rating, 1, 10)?;
            if let Some(artifacts) = rating.artifacts {
                crate::horde::validate::in_range("ratings.artifacts", artifacts, 0, 5)?;
            }
        }
        if let Some(best) = &input.best {
            if !jobs.iter().any(|j| &j.id == best) {
                return Err(unknown(best).into());
            }
        }
        if input.ratings.is_empty() && input.best.is_none() {
            return Err(invalid(
                "AestheticsMissing",
                "You need to either point to the best image, or provide aesthetic ratings.",
            )
            .into());
        }
        if input.ratings.is_empty() && jobs.len() <= 1 {
            return Err(invalid(
                "AestheticsSolo",
                "Pointing at the only image of a set as its best helps nobody: no kudos for it.",
            )
            .into());
        }
        let (best, reward) = best_and_reward(&input, jobs.len())?;
        let pricing = super::jobs::image_pricing(&request);
        let consumed: Kudos = match request.user_id {
            0 => Kudos::ZERO,
            _ => jobs
                .iter()
                .filter(|j| j.state == "ok")
                .map(|j| pricing.requester_cost(Kudos(j.kudos)))
                .fold(Kudos::ZERO, |sum, cost| sum + cost),
        };
        // Never more than the request cost, less one kudos.
        let reward = if reward >= consumed {
            (consumed - Kudos(100)).max(Kudos::ZERO)
        } else {
            reward
        };
        let ratings = NewRatings {
            request_id: request.id.clone(),
            requester: request.user_id,
            best_job_id: best,
            ratings: input
                .ratings
                .iter()
                .map(|r| (r.id.clone(), r.rating, r.artifacts))
                .collect(),
            reward,
            now: now_ms(),
        };
        if !self.store.rate_request(&ratings).await? {
            return Err(invalid(
                "AestheticsAlreadyExist",
                "This generation appears already rated",
            )
            .into());
        }
        Ok(GenerationSubmitted {
            reward: reward.as_f64(),
        })
    }
}

/// Which image is the best of a set of `images`, as the ratings and `best` say, and the reward
/// before its cap: 5 kudos a rating and 5 more for each artifacts rating; 15 for a best image
/// that a single rating does not already tell.
fn best_and_reward(input: &AestheticsPayload, images: usize) -> Result<(Option<String>, Kudos)> {
    let ratings = &input.ratings;
    if ratings.is_empty() {
        return Ok((input.best.clone(), FOR_BEST));
    }
    let mut reward = Kudos::ZERO;
    for rating in ratings {
        reward += PER_RATING;
        if rating.artifacts.is_some() {
            reward += PER_ARTIFACTS;
        }
    }
    let best = match ratings.as_slice() {
        [only] if images > 1 => {
            if only.rating >= 7 && input.best.as_ref().is_none_or(|b| *b == only.id) {
                Some(only.id.clone())
            } else if input.best.is_some() {
                reward += FOR_BEST;
                input.best.clone()
            } else {
                None
            }
        }
        [_] => None,
        _ => {
            let top = ratings.iter().map(|r| r.rating).max().unwrap_or_default();
            let tops: Vec<&str> = ratings
                .iter()
                .filter(|r| r.rating == top)
                .map(|r| r.id.as_str())
                .collect();
            match (tops.as_slice(), &input.best) {
                ([only], _) => Some(only.to_string()),
                (_, Some(best)) if tops.contains(&best.as_str()) => Some(best.clone()),
                (_, Some(_)) => {
                    return Err(invalid(
                        "AestheticsConfused",
                        "The best image you selected is not one of those with the highest \
                         aesthetic rating.",
                    )
                    .into())
                }
                (_, None) => None,
            }
        }
    };
    Ok((best, reward))
}
