//! Text generation (`/api/v2/generate/text/*`), the "Kobold" models of the original.

use crate::checks::{ScoreCheck, TextScores};
use crate::common::{GenerationMetadata, NoValidRequestFound, RequestStatusCheck, SubmitState};
use crate::worker_messages::PopMessage;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Generation parameters. The fields the queue needs are typed; the sampling
/// fields (temperature, top_p, stop_sequence, …) pass through to the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct TextParams {
    pub n: u32,
    pub max_length: u32,
    pub max_context_length: u32,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub sampling: Map<String, Value>,
}

impl Default for TextParams {
    fn default() -> Self {
        TextParams {
            n: 1,
            max_length: 80,
            max_context_length: 2048,
            sampling: Map::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct GenerationInputKobold {
    pub prompt: Option<String>,
    pub params: TextParams,
    pub models: Vec<String>,
    pub workers: Vec<String>,
    pub worker_blacklist: bool,
    pub trusted_workers: bool,
    /// Potluck: only workers that keep nothing (no `keeps_prompts`) may take this request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub workers_keep_nothing: bool,
    pub slow_workers: bool,
    pub extra_slow_workers: bool,
    pub dry_run: bool,
    pub allow_downgrade: bool,
    pub disable_batching: bool,
    pub validated_backends: bool,
    /// Accepted by the AI Horde's schema for text too, and refused there (and here).
    pub extra_source_images: Vec<crate::image::ExtraSourceImage>,
    pub softprompt: Option<String>,
    pub webhook: Option<String>,
    pub proxied_account: Option<String>,
    pub style: Option<String>,
}

impl Default for GenerationInputKobold {
    fn default() -> Self {
        GenerationInputKobold {
            prompt: None,
            params: TextParams::default(),
            models: Vec::new(),
            workers: Vec::new(),
            worker_blacklist: false,
            trusted_workers: false,
            workers_keep_nothing: false,
            slow_workers: true,
            extra_slow_workers: false,
            dry_run: false,
            allow_downgrade: false,
            disable_batching: false,
            // What the AI Horde's parser fills in when it is missing (its model says true).
            validated_backends: false,
            extra_source_images: Vec::new(),
            softprompt: None,
            webhook: None,
            proxied_account: None,
            style: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GenerationKobold {
    pub text: String,
    pub seed: i64,
    pub worker_id: String,
    pub worker_name: String,
    pub model: String,
    pub id: String,
    pub state: String,
    pub gen_metadata: Vec<GenerationMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RequestStatusKobold {
    #[serde(flatten)]
    pub check: RequestStatusCheck,
    pub generations: Vec<GenerationKobold>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct PopInputKobold {
    /// The worker's name; the worker is created on its first pop.
    pub name: Option<String>,
    pub models: Vec<String>,
    pub max_length: u32,
    pub max_context_length: u32,
    pub nsfw: bool,
    pub priority_usernames: Vec<String>,
    pub bridge_agent: String,
    pub threads: u32,
    pub require_upfront_kudos: bool,
    pub amount: u32,
    pub softprompts: Vec<String>,
    pub extra_slow_worker: bool,
    /// Potluck: the chat template of the models it serves, so that the server can turn chat
    /// messages into a prompt (`/v1/chat/completions`). Sent now and then, not on every pop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<ChatTemplateInfo>,
    /// Potluck: the worker runs in a web browser tab; such a worker is never trusted, so it
    /// only takes requests that allow untrusted workers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browser: bool,
    /// Potluck: the worker keeps prompts or results it is given (logs, caches, training).
    /// Requests with `workers_keep_nothing` pass such a worker by.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keeps_prompts: bool,
    /// Potluck: the worker can score other workers' generations (check jobs, whose payload
    /// carries `score_check`). Only trusted workers are given them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub can_score: bool,
}

/// A model's chat template as a worker announces it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct ChatTemplateInfo {
    /// The Jinja source, as in the model's tokenizer_config.json or GGUF metadata.
    pub template: String,
    pub bos_token: String,
    pub eos_token: String,
}

impl Default for PopInputKobold {
    fn default() -> Self {
        PopInputKobold {
            name: None,
            models: Vec::new(),
            max_length: 512,
            max_context_length: 2048,
            nsfw: false,
            priority_usernames: Vec::new(),
            bridge_agent: "unknown:0:unknown".into(),
            threads: 1,
            require_upfront_kudos: false,
            amount: 1,
            softprompts: Vec::new(),
            extra_slow_worker: false,
            chat_template: None,
            browser: false,
            keeps_prompts: false,
            can_score: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GenerationPayloadKobold {
    /// The prompt and parameters; an empty object when nothing fits this worker.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Map<String, Value>>,
    pub id: Option<String>,
    pub ids: Vec<String>,
    pub skipped: NoValidRequestFound,
    pub softprompt: Option<String>,
    pub model: Option<String>,
    /// Seconds the worker has to submit before the job is given to another.
    pub ttl: Option<u64>,
    /// Potluck: this job is a check: score this generation of the payload's prompt and
    /// parameters, and submit `scores` instead of a generation. Only for `can_score` workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_check: Option<ScoreCheck>,
    /// Messages to this worker that have not expired, with every pop, as the AI Horde sends them.
    #[serde(default)]
    pub messages: Vec<PopMessage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct SubmitInputKobold {
    pub id: Option<String>,
    pub generation: Option<String>,
    pub state: SubmitState,
    pub seed: i64,
    pub gen_metadata: Vec<GenerationMetadata>,
    /// Potluck: tokens of the prompt as the worker's tokenizer counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Potluck: tokens generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u32>,
    /// Potluck: why generation ended, `stop` (end of text or a stop sequence) or `length`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Potluck: the ids of the tokens generated (the end of text included, when generation
    /// stopped there), of which `generation` is the decoded and formatted text. A check scores
    /// exactly these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
    /// Potluck: a check job's answer, in place of a generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<TextScores>,
}

/// Potluck: text a worker generated so far for a job it holds, relayed to a requester who
/// streams (`/v1` with `stream: true`). Never stored; the final submit is what counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct GenerationProgress {
    pub id: Option<String>,
    /// New text since the last progress message.
    pub text: String,
    /// Bytes of text that came before `text`, so that the relay can tell a gap or a repeat.
    pub offset: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GenerationProgressAnswer {
    /// The requester went away: stop, and submit what there is.
    pub cancelled: bool,
}
