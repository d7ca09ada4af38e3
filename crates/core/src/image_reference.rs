//! What the AI Horde knows about image work, as its `horde/consts.py` says it: the
//! post-processors (with what each adds to a requester's cost), the samplers that take two model
//! evaluations per step, the LCM LoRAs, and the baselines whose models cost more. Validation,
//! kudos (`kudos.rs`) and matching (`matching.rs`) read these tables, so they agree.

/// A post-processor the AI Horde's image workers know.
pub struct PostProcessor {
    pub name: &'static str,
    /// What it multiplies the requester's cost by (`KNOWN_POST_PROCESSORS`).
    pub cost: f64,
    /// An upscaler: a request may ask for one at most.
    pub upscaler: bool,
    /// Heavy enough that a worker batches fewer images with it (`HEAVY_POST_PROCESSORS`).
    pub heavy: bool,
}

const fn pp(name: &'static str, cost: f64, upscaler: bool, heavy: bool) -> PostProcessor {
    PostProcessor {
        name,
        cost,
        upscaler,
        heavy,
    }
}

pub const POST_PROCESSORS: &[PostProcessor] = &[
    pp("GFPGAN", 1.0, false, false),
    pp("RealESRGAN_x4plus", 1.05, true, true),
    pp("RealESRGAN_x2plus", 1.05, true, false),
    pp("RealESRGAN_x4plus_anime_6B", 1.05, true, true),
    pp("NMKD_Siax", 1.05, true, true),
    pp("4x_AnimeSharp", 1.05, true, true),
    pp("CodeFormers", 1.0, false, true),
    pp("strip_background", 1.0, false, false),
    pp("4xNomos8kSC", 1.05, true, true),
    pp("4xLSDIRplus", 1.05, true, true),
    pp("4xNomosWebPhoto_RealPLKSR", 1.05, true, false),
    pp("4xNomos2_realplksr_dysample", 1.05, true, false),
    pp("4xNomos2_hq_dat2", 1.05, true, true),
    pp("2xModernSpanimationV1", 1.05, true, false),
    pp("GFPGANv1.3", 1.0, false, false),
    pp("RestoreFormer", 1.0, false, true),
];

pub fn post_processor(name: &str) -> Option<&'static PostProcessor> {
    POST_PROCESSORS.iter().find(|p| p.name == name)
}

/// Samplers that evaluate the model twice per step, so a step counts double.
const SECOND_ORDER_SAMPLERS: &[&str] = &[
    "k_heun",
    "k_dpm_2",
    "k_dpm_2_a",
    "k_dpmpp_2s_a",
    "k_dpmpp_sde",
];
/// A sampler that picks its own step count; the AI Horde counts it as 40 steps.
const ADAPTIVE_SAMPLER: &str = "k_dpm_adaptive";
/// Steps `ADAPTIVE_SAMPLER` counts as.
const ADAPTIVE_STEPS: u32 = 40;

/// The steps a request costs: what `get_accurate_steps` counts.
pub fn accurate_steps(sampler: &str, steps: u32) -> u32 {
    if sampler == ADAPTIVE_SAMPLER {
        ADAPTIVE_STEPS
    } else if SECOND_ORDER_SAMPLERS.contains(&sampler) {
        steps * 2
    } else {
        steps
    }
}

/// LCM LoRAs, by version id and by model id: requests using them need few steps.
const LCM_LORA_VERSIONS: &[&str] = &[
    "246747", "247778", "268475", "243643", "225222", "219782", "363353",
];
const LCM_LORA_IDS: &[&str] = &["195519", "216190", "324115"];

/// Whether a request uses LCM: its sampler, or one of its LoRAs (`is_version`: named by version).
pub fn uses_lcm<'a>(sampler: &str, loras: impl IntoIterator<Item = (&'a str, bool)>) -> bool {
    sampler == "lcm"
        || loras.into_iter().any(|(name, is_version)| {
            if is_version {
                LCM_LORA_VERSIONS.contains(&name)
            } else {
                LCM_LORA_IDS.contains(&name)
            }
        })
}

/// The baselines of the model reference whose rules differ.
pub mod baseline {
    pub const SD1: &str = "stable diffusion 1";
    pub const SD2: &str = "stable diffusion 2";
    pub const SDXL: &str = "stable_diffusion_xl";
    pub const CASCADE: &str = "stable_cascade";
    pub const FLUX: &str = "flux_1";
    pub const QWEN: &str = "qwen_image";
    pub const Z_IMAGE: &str = "z_image_turbo";
}

/// How many more images' worth of memory a model of this baseline takes in a batch
/// (`BASELINE_BATCHING_MULTIPLIERS`).
pub fn batching_multiplier(baseline_name: &str) -> f64 {
    match baseline_name {
        baseline::FLUX => 5.0,
        baseline::QWEN => 10.0,
        baseline::Z_IMAGE => 8.0,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_count_as_the_ai_horde_counts_them() {
        assert_eq!(accurate_steps("k_euler_a", 30), 30);
        assert_eq!(accurate_steps("k_heun", 30), 60);
        assert_eq!(accurate_steps("k_dpm_adaptive", 5), 40);
    }

    #[test]
    fn lcm_by_sampler_or_lora() {
        assert!(uses_lcm("lcm", []));
        assert!(uses_lcm("k_euler", [("246747", true)]));
        assert!(uses_lcm("k_euler", [("195519", false)]));
        assert!(!uses_lcm("k_euler", [("195519", true)]));
    }

    #[test]
    fn every_post_processor_is_listed_once() {
        for p in POST_PROCESSORS {
            assert_eq!(
                POST_PROCESSORS.iter().filter(|q| q.name == p.name).count(),
                1
            );
        }
        assert_eq!(post_processor("RealESRGAN_x4plus").unwrap().cost, 1.05);
        assert!(post_processor("nope").is_none());
    }
}
