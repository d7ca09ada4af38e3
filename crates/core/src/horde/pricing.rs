//! What a request costs, and whether its requester pays it up front: the formulas of `kudos.rs`
//! applied to a request and to the queue's load, as the AI Horde's `calculate_kudos`,
//! `extrapolate_dry_run_kudos`, `require_upfront_kudos` and `downgrade` apply them.
//!
//! A large request (or one that refuses slow workers) needs its requester to hold its cost
//! already, above the account's floor and beyond what its other large requests reserved. When
//! it does, the cost is reserved with the request (`upfront_kudos`, checked again in the
//! transaction that queues it) and spent as it is charged. When it does not, the request is
//! refused (403 `KudosUpfront`), or, with `allow_downgrade`, made small enough to need nothing
//! up front.

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::image_reference;
use crate::kudos::{self, ImagePricing, ImageWork, Kudos, TextPricing};
use protocol::WorkerType;

/// What the upfront limits depend on: the generations waiting, and worker threads online.
#[derive(Debug, Clone, Copy)]
struct Load {
    queued: u64,
    threads: u64,
}

/// A text request as its cost reads it.
pub(super) struct TextAsk<'a> {
    pub prompt: &'a str,
    pub max_length: u32,
    pub max_context_length: u32,
    pub models: &'a [String],
    pub n: u32,
    pub slow_workers: bool,
    pub allow_downgrade: bool,
}

/// What a text request costs, after any downgrade.
pub(super) struct TextCost {
    pub max_length: u32,
    pub slow_workers: bool,
    pub pricing: TextPricing,
    /// The reward of one generation, as estimated.
    pub estimate: Kudos,
    /// What the requester pays per generation, as estimated.
    pub per_generation: Kudos,
    pub tax: Kudos,
    /// Reserved while the request is active.
    pub upfront: Kudos,
}

/// An image request as its cost reads it.
pub(super) struct ImageAsk<'a> {
    pub width: u32,
    pub height: u32,
    pub steps: u32,
    pub sampler: &'a str,
    pub post_processing: &'a [String],
    pub controlnet: bool,
    pub return_control_map: bool,
    /// Name, and whether it names a version.
    pub loras: Vec<(&'a str, bool)>,
    pub textual_inversions: bool,
    pub hires_fix: bool,
    pub qr_code: bool,
    pub img2img: bool,
    pub worker_blacklist: bool,
    pub extra_source_images: usize,
    pub models: &'a [String],
    pub n: u32,
    pub slow_workers: bool,
    pub allow_downgrade: bool,
}

/// What an image request costs, after any downgrade.
pub(super) struct ImageCost {
    pub width: u32,
    pub height: u32,
    pub steps: u32,
    pub slow_workers: bool,
    pub pricing: ImagePricing,
    pub estimate: Kudos,
    pub per_generation: Kudos,
    pub tax: Kudos,
    pub upfront: Kudos,
}

/// Whether a requester can pay a request up front, and what follows if not.
enum Upfront {
    /// Nothing is needed, or it is held: reserve this much.
    Reserve(Kudos),
    /// Not held, and the request may be made smaller.
    Downgrade,
}

impl Horde {
    /// The generations waiting and the worker threads online, of a kind.
    async fn load(&self, kind: WorkerType) -> Result<Load> {
        let queued = self
            .queue_shape()
            .await?
            .iter()
            .filter(|q| q.kind == kind.as_str())
            .map(|q| q.generations.max(0) as u64)
            .sum();
        let online_since = self.online_since();
        let threads = self
            .store
            .workers(Some(kind.as_str()))
            .await?
            .iter()
            .filter(|w| w.last_check_in >= online_since)
            .map(|w| w.threads.max(0) as u64)
            .sum();
        Ok(Load { queued, threads })
    }

    /// Whether `account` holds `required` kudos up front (`needed`: the request is large);
    /// refuses with `refusal` when it does not and no downgrade was allowed.
    async fn upfront(
        &self,
        account: &Account,
        needed: bool,
        required: Kudos,
        allow_downgrade: bool,
        refusal: impl FnOnce(Kudos) -> String,
    ) -> Result<Upfront> {
        if !needed || required <= Kudos::ZERO {
            return Ok(Upfront::Reserve(Kudos::ZERO));
        }
        let available = if account.is_anonymous() {
            Kudos::ZERO
        } else {
            self.store.available_kudos(account.user.id).await?
        };
        if available >= required {
            Ok(Upfront::Reserve(required))
        } else if allow_downgrade {
            Ok(Upfront::Downgrade)
        } else {
            Err(Rejection::forbidden("KudosUpfront", refusal(required)).into())
        }
    }

    pub(super) async fn price_text(&self, account: &Account, ask: TextAsk<'_>) -> Result<TextCost> {
        let reference = &self.policy.model_reference;
        let load = self.load(WorkerType::Text).await?;
        let limit = kudos::text_upfront_limit(load.queued, load.threads);
        let needed = !ask.slow_workers || ask.max_length > limit;
        let required = kudos::text_upfront(ask.max_length, ask.models, ask.n, reference);
        let refusal = |required| {
            format!(
                "Due to heavy demand, for requests over {limit} tokens (or refusing slow workers), \
                 the client needs to already have the required kudos. This request requires \
                 {required} kudos to fulfil."
            )
        };
        let (max_length, slow_workers, upfront) = match self
            .upfront(account, needed, required, ask.allow_downgrade, refusal)
            .await?
        {
            Upfront::Reserve(upfront) => (ask.max_length, ask.slow_workers, upfront),
            Upfront::Downgrade => (ask.max_length.min(limit), true, Kudos::ZERO),
        };
        let pricing = TextPricing {
            context_tokens: kudos::context_tokens(ask.prompt, ask.max_context_length),
        };
        let estimate =
            kudos::text_estimate(max_length, pricing.context_tokens, ask.models, reference);
        Ok(TextCost {
            max_length,
            slow_workers,
            pricing,
            estimate,
            per_generation: kudos::text_requester_cost(estimate),
            tax: kudos::request_tax(0),
            upfront,
        })
    }

    pub(super) async fn price_image(
        &self,
        account: &Account,
        ask: ImageAsk<'_>,
    ) -> Result<ImageCost> {
        let first = self.image_cost(&ask, ask.width, ask.height, ask.steps, ask.slow_workers);
        let reference = &self.policy.model_reference;
        let load = self.load(WorkerType::Image).await?;
        let baselines: Vec<&str> = ask
            .models
            .iter()
            .map(|m| reference.image_baseline(m))
            .collect();
        let limit =
            kudos::image_upfront_limit(load.queued, load.threads, baselines.iter().copied());
        let steps = image_reference::accurate_steps(ask.sampler, ask.steps);
        let lcm = image_reference::uses_lcm(ask.sampler, ask.loras.iter().copied());
        let needed = !ask.slow_workers
            || (lcm && steps > 10)
            || ask.models.iter().any(|m| {
                let most = reference.image_requirements(m).max_steps.unwrap_or(40);
                most < steps
            })
            || u64::from(ask.width) * u64::from(ask.height) > u64::from(limit) * u64::from(limit)
            || (ask.controlnet && steps > 20);
        let required = kudos::request_total(first.per_generation, ask.n, first.tax);
        let refusal = |required| {
            format!(
                "Due to heavy demand, for requests over {limit}x{limit}, over 40 steps (10 for \
                 LCM, 20 for ControlNet, fewer where a model needs fewer; samplers of two \
                 evaluations per step count double), or refusing slow workers, the client needs \
                 to already have the required kudos. This request requires {required} kudos to \
                 fulfil."
            )
        };
        match self
            .upfront(account, needed, required, ask.allow_downgrade, refusal)
            .await?
        {
            Upfront::Reserve(upfront) => Ok(ImageCost { upfront, ..first }),
            Upfront::Downgrade => {
                let (width, height) = downgraded_size(ask.width, ask.height, limit);
                let most = if ask.controlnet {
                    20
                } else if lcm {
                    10
                } else {
                    ask.models
                        .iter()
                        .map(|m| reference.image_requirements(m).max_steps.unwrap_or(30))
                        .min()
                        .unwrap_or(30)
                };
                let mut steps = ask.steps;
                while image_reference::accurate_steps(ask.sampler, steps) > most && steps >= 5 {
                    steps -= 1;
                }
                Ok(self.image_cost(&ask, width, height, steps, true))
            }
        }
    }

    /// The cost of an image request of this size, steps and choice of slow workers.
    fn image_cost(
        &self,
        ask: &ImageAsk<'_>,
        width: u32,
        height: u32,
        steps: u32,
        slow_workers: bool,
    ) -> ImageCost {
        let work = ImageWork {
            width,
            height,
            steps,
            post_processing: ask.post_processing,
            controlnet: ask.controlnet,
            return_control_map: ask.return_control_map,
            loras: ask.loras.len(),
            textual_inversions: ask.textual_inversions,
        };
        let pricing = ImagePricing {
            base: kudos::image_base(&work),
            post_processing_factor: kudos::post_processing_factor(ask.post_processing),
            img2img: ask.img2img,
            slow_workers,
            worker_blacklist: ask.worker_blacklist,
            hires_fix: ask.hires_fix,
            qr_code: ask.qr_code,
        };
        let baseline = ask
            .models
            .first()
            .map_or(kudos::DEFAULT_ESTIMATE_BASELINE, |m| {
                self.policy.model_reference.image_baseline(m)
            });
        let estimate = pricing.reward(baseline);
        ImageCost {
            width,
            height,
            steps,
            slow_workers,
            per_generation: pricing.requester_cost(estimate),
            pricing,
            estimate,
            tax: kudos::request_tax(ask.extra_source_images),
            upfront: Kudos::ZERO,
        }
    }
}

/// The largest size of the same shape within `limit × limit` pixels, in multiples of 64 (the
/// AI Horde's `downgrade`), and never below 512 × 512.
fn downgraded_size(width: u32, height: u32, limit: u32) -> (u32, u32) {
    let area_limit = u64::from(limit) * u64::from(limit);
    let area = u64::from(width) * u64::from(height);
    if area <= area_limit {
        return (width, height);
    }
    let scale = (area_limit as f64 / area as f64).sqrt();
    let mut w = (f64::from(width) * scale) as u32 / 64 * 64;
    let mut h = (f64::from(height) * scale) as u32 / 64 * 64;
    while u64::from(w) * u64::from(h) > area_limit {
        if w >= h {
            w -= 64;
        } else {
            h -= 64;
        }
    }
    if w * h < 512 * 512 {
        (512, 512)
    } else {
        (w, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downgrades_keep_the_shape_in_multiples_of_64() {
        assert_eq!(downgraded_size(1024, 1024, 1024), (1024, 1024));
        assert_eq!(downgraded_size(2048, 2048, 1024), (1024, 1024));
        assert_eq!(downgraded_size(2048, 1024, 576), (768, 384));
        assert_eq!(downgraded_size(3072, 512, 576), (1408, 192));
        assert_eq!(downgraded_size(640, 640, 576), (576, 576));
        assert_eq!(downgraded_size(1024, 1024, 300), (512, 512));
    }
}
