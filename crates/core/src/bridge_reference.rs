//! What a worker's software can do, read from the `bridge_agent` it announces
//! (`name:version:url`), as the AI Horde's `horde/bridge_reference.py` reads it: image features
//! by bridge and version, the samplers each supports, and the text back ends whose handling of
//! the AI Horde's parameters is validated.
//!
//! A bridge agent is whatever the worker says it is, so nothing here is a security boundary: it
//! keeps honest workers from jobs their software cannot run. Whether a worker's results are
//! right is the checks' business (`horde/trust.rs`).

/// A version as the AI Horde parses it (python-semver with optional minor and patch): numbers
/// compare in order, and a pre-release sorts before its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    /// No pre-release part: sorts after the same version with one.
    release: bool,
}

impl Version {
    const ZERO: Version = Version {
        major: 0,
        minor: 0,
        patch: 0,
        release: true,
    };

    fn new(major: u64) -> Version {
        Version {
            major,
            ..Version::ZERO
        }
    }

    fn parse(text: &str) -> Option<Version> {
        let (core, _build) = text.split_once('+').unwrap_or((text, ""));
        let (core, pre) = match core.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (core, None),
        };
        if pre.is_some_and(str::is_empty) {
            return None;
        }
        let mut numbers = core.split('.');
        let mut number = |required: bool| -> Option<u64> {
            match numbers.next() {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
                None if !required => Some(0),
                _ => None,
            }
        };
        let version = Version {
            major: number(true)?,
            minor: number(false)?,
            patch: number(false)?,
            release: pre.is_none(),
        };
        numbers.next().is_none().then_some(version)
    }
}

/// The bridge's name and version; `unknown` 0 when the agent does not parse.
fn parse(bridge_agent: &str) -> (&str, Version) {
    let mut parts = bridge_agent.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(version), Some(_)) => match Version::parse(version) {
            Some(version) => (name, version),
            None => ("unknown", Version::ZERO),
        },
        _ => ("unknown", Version::ZERO),
    }
}

/// The features a bridge version brought.
type Gained = (u64, &'static [&'static str]);

/// Features each image bridge gained, by the version that brought them.
const CAPABILITIES: &[(&str, &[Gained])] = &[
    (
        "AI Horde Worker reGen",
        &[
            (
                13,
                &[
                    "4xNomos8kSC",
                    "4xLSDIRplus",
                    "4xNomosWebPhoto_RealPLKSR",
                    "4xNomos2_realplksr_dysample",
                    "4xNomos2_hq_dat2",
                    "2xModernSpanimationV1",
                    "GFPGANv1.3",
                    "RestoreFormer",
                ],
            ),
            (9, &["flux"]),
            (8, &["layer_diffuse"]),
            (7, &["qr_code", "extra_texts", "workflow"]),
            (6, &["stable_cascade_2pass"]),
            (5, &["extra_source_images"]),
            (3, &["lora_versions"]),
            (2, &["textual_inversion", "lora"]),
            (
                1,
                &[
                    "img2img",
                    "inpainting",
                    "karras",
                    "post-processing",
                    "GFPGAN",
                    "RealESRGAN_x4plus",
                    "r2",
                    "CodeFormers",
                    "clip_skip",
                    "r2_source",
                    "controlnet",
                    "strip_background",
                    "return_control_map",
                    "RealESRGAN_x4plus_anime_6B",
                    "NMKD_Siax",
                    "4x_AnimeSharp",
                    "image_is_control",
                    "RealESRGAN_x2plus",
                    "hires_fix",
                    "tiling",
                ],
            ),
        ],
    ),
    (
        "AI Horde Worker",
        &[
            (24, &["textual_inversion"]),
            (23, &["image_is_control"]),
            (22, &["lora"]),
            (21, &["RealESRGAN_x2plus"]),
            (19, &["NMKD_Siax", "4x_AnimeSharp"]),
            (
                18,
                &[
                    "strip_background",
                    "return_control_map",
                    "RealESRGAN_x4plus_anime_6B",
                ],
            ),
            (15, &["controlnet"]),
            (14, &["r2_source"]),
            (13, &["hires_fix", "clip_skip"]),
            (9, &["CodeFormers"]),
            (8, &["r2"]),
            (7, &["post-processing", "GFPGAN", "RealESRGAN_x4plus"]),
            (6, &["karras"]),
            (4, &["inpainting"]),
            (3, &["img2img"]),
        ],
    ),
    (
        "SD-WebUI Stable Horde Worker Bridge",
        &[
            (4, &["clip_skip"]),
            (3, &["r2_source"]),
            (2, &["tiling"]),
            (1, &["inpainting", "karras", "r2", "CodeFormers"]),
        ],
    ),
    (
        "HordeAutoWebBridge",
        &[(2, &["tiling"]), (1, &["painting", "img2img", "karras"])],
    ),
];

/// Whether the bridge, at its version, has this feature. Unknown bridges have none.
pub fn has_capability(bridge_agent: &str, capability: &str) -> bool {
    let (name, version) = parse(bridge_agent);
    CAPABILITIES
        .iter()
        .find(|(bridge, _)| *bridge == name)
        .is_some_and(|(_, versions)| {
            versions.iter().any(|(since, features)| {
                Version::new(*since) <= version && features.contains(&capability)
            })
        })
}

/// The samplers each bridge gained, by version: those it runs with karras, and those it runs
/// only without.
type SamplerSets = &'static [(u64, &'static [&'static str], &'static [&'static str])];

const KARRAS_SAMPLERS: &[&str] = &[
    "k_lms",
    "k_heun",
    "k_euler",
    "k_euler_a",
    "k_dpm_2",
    "k_dpm_2_a",
    "k_dpm_fast",
    "k_dpm_adaptive",
    "k_dpmpp_2s_a",
    "k_dpmpp_2m",
    "k_dpmpp_sde",
    "dpmsolver",
    "DDIM",
];

const SAMPLERS: &[(&str, SamplerSets)] = &[
    (
        "AI Horde Worker reGen",
        &[(3, &["lcm"], &[]), (2, KARRAS_SAMPLERS, &[])],
    ),
    (
        "AI Horde Worker",
        &[
            (17, &[], &["DDIM"]),
            (12, &["k_dpmpp_sde"], &[]),
            (
                11,
                &[
                    "k_lms",
                    "k_heun",
                    "k_euler",
                    "k_euler_a",
                    "k_dpm_2",
                    "k_dpm_2_a",
                    "k_dpm_fast",
                    "k_dpm_adaptive",
                    "k_dpmpp_2s_a",
                    "k_dpmpp_2m",
                    "dpmsolver",
                ],
                &[],
            ),
        ],
    ),
    (
        "SD-WebUI Stable Horde Worker Bridge",
        &[(
            1,
            &[
                "k_lms",
                "k_heun",
                "k_euler",
                "k_euler_a",
                "k_dpm_2",
                "k_dpm_2_a",
                "k_dpm_fast",
                "k_dpm_adaptive",
                "k_dpmpp_2s_a",
                "k_dpmpp_2m",
                "k_dpmpp_sde",
            ],
            &["DDIM", "plms"],
        )],
    ),
    (
        "HordeAutoWebBridge",
        &[(
            1,
            &[
                "k_lms",
                "k_dpm_2",
                "k_dpm_2_a",
                "k_dpmpp_2s_a",
                "k_dpmpp_2m",
                "dpmsolver",
            ],
            &[
                "k_heun",
                "k_euler",
                "k_euler_a",
                "k_dpm_fast",
                "k_dpm_adaptive",
            ],
        )],
    ),
];

/// The bridge an unknown agent's samplers are taken from, as the AI Horde does.
const UNKNOWN_SAMPLER_BRIDGE: (&str, u64) = ("AI Horde Worker", 23);

/// Whether the bridge runs this sampler with (`karras`) or without the karras schedule: with
/// karras only its karras samplers, without it every sampler it has.
pub fn supports_sampler(bridge_agent: &str, sampler: &str, karras: bool) -> bool {
    let (name, version) = parse(bridge_agent);
    let (sets, version) = match SAMPLERS.iter().find(|(bridge, _)| *bridge == name) {
        Some((_, sets)) => (*sets, version),
        None => {
            let (fallback, major) = UNKNOWN_SAMPLER_BRIDGE;
            let sets = SAMPLERS
                .iter()
                .find(|(b, _)| *b == fallback)
                .map(|(_, s)| *s);
            (sets.unwrap_or_default(), Version::new(major))
        }
    };
    sets.iter()
        .filter(|(since, _, _)| Version::new(*since) <= version)
        .any(|(_, with_karras, without)| {
            with_karras.contains(&sampler) || (!karras && without.contains(&sampler))
        })
}

/// Text back ends whose handling of the AI Horde's parameters is validated: the AI Horde's
/// list, and Potluck's own worker and browser tab (their engine's sampling is what the checks
/// score against).
const VALIDATED_TEXT_BACKENDS: &[&str] = &[
    "AI Horde Worker",
    "AI Horde Worker~aphrodite~oai",
    "AI Horde Worker~aphrodite~kai",
    "KoboldCppEmbedWorker",
    "TabbyAPI",
    "potluck-worker",
    "potluck-browser",
];

/// Whether requests that ask for validated back ends (`validated_backends`) may go to this one,
/// and its rewards are paid in full rather than cut to 30 %.
pub fn is_validated_text_backend(bridge_agent: &str) -> bool {
    VALIDATED_TEXT_BACKENDS.contains(&parse(bridge_agent).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGEN: &str =
        "AI Horde Worker reGen:9.0.2:https://github.com/Haidra-Org/horde-worker-reGen";

    #[test]
    fn agents_parse_as_the_ai_horde_parses_them() {
        assert_eq!(parse(REGEN).0, "AI Horde Worker reGen");
        assert_eq!(
            parse(REGEN).1,
            Version {
                major: 9,
                minor: 0,
                patch: 2,
                release: true
            }
        );
        assert_eq!(parse("AI Horde Worker:24:https://x").1, Version::new(24));
        // Two parts, or a version that is no version: unknown.
        assert_eq!(parse("AI Horde Worker:24"), ("unknown", Version::ZERO));
        assert_eq!(parse("x:v1:y"), ("unknown", Version::ZERO));
        assert!(Version::parse("2.0.0-beta").unwrap() < Version::parse("2.0.0").unwrap());
        assert!(Version::parse("1.2.3.4").is_none());
    }

    #[test]
    fn capabilities_grow_with_the_version() {
        assert!(has_capability(REGEN, "flux"));
        assert!(has_capability(REGEN, "lora"));
        assert!(!has_capability(REGEN, "4xNomos8kSC"));
        assert!(!has_capability("AI Horde Worker reGen:8.9.9:x", "flux"));
        assert!(has_capability("AI Horde Worker:22:x", "lora"));
        assert!(!has_capability("AI Horde Worker:21:x", "lora"));
        assert!(!has_capability("unknown:0:unknown", "img2img"));
        assert!(!has_capability("potluck-worker:0.1.0:engine", "img2img"));
    }

    #[test]
    fn samplers_by_bridge_and_karras() {
        assert!(supports_sampler(REGEN, "lcm", true));
        assert!(supports_sampler(REGEN, "DDIM", true));
        // An unknown bridge counts as AI Horde Worker 23: no lcm, DDIM only without karras.
        assert!(supports_sampler("unknown:0:unknown", "k_euler_a", true));
        assert!(!supports_sampler("unknown:0:unknown", "lcm", false));
        assert!(!supports_sampler("unknown:0:unknown", "DDIM", true));
        assert!(supports_sampler("unknown:0:unknown", "DDIM", false));
        assert!(!supports_sampler(
            "AI Horde Worker:11:x",
            "k_dpmpp_sde",
            true
        ));
    }

    #[test]
    fn validated_text_backends() {
        assert!(is_validated_text_backend("TabbyAPI:1.0:x"));
        assert!(is_validated_text_backend("potluck-worker:0.1.0:engine"));
        assert!(!is_validated_text_backend("koboldcpp:1.80:x"));
        assert!(!is_validated_text_backend("unknown:0:unknown"));
    }
}
