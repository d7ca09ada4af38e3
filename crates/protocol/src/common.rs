//! Types shared by the text and image APIs: errors, accounts, workers, status.

use crate::{TeamDetailsLite, WorkerMessage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The AI Horde error body: a human message and a stable machine code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RequestError {
    pub message: String,
    pub rc: String,
    /// Per-field messages, present on validation errors only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RequestSingleWarning {
    pub code: String,
    pub message: String,
}

/// Answer to an accepted asynchronous generation request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RequestAsync {
    pub id: Option<String>,
    pub kudos: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub warnings: Vec<RequestSingleWarning>,
}

/// The progress fields of a request, cheap to compute and polled often.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RequestStatusCheck {
    pub finished: u32,
    pub processing: u32,
    pub restarted: u32,
    pub waiting: u32,
    pub done: bool,
    pub faulted: bool,
    pub wait_time: u32,
    pub queue_position: u32,
    pub kudos: f64,
    pub is_possible: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GenerationMetadata {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// State a worker reports with a submitted generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SubmitState {
    #[default]
    Ok,
    Censored,
    Faulted,
    Csam,
}

impl SubmitState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmitState::Ok => "ok",
            SubmitState::Censored => "censored",
            SubmitState::Faulted => "faulted",
            SubmitState::Csam => "csam",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GenerationSubmitted {
    pub reward: f64,
}

/// Reasons a pop found nothing, counted per reason (all text and image keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NoValidRequestFound {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub worker_id: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub performance: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nsfw: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blacklist: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untrusted: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub models: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bridge_version: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kudos: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_length: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_context_length: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_pixels: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub step_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub img2img: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub painting: u32,
    #[serde(default, rename = "post-processing", skip_serializing_if = "is_zero")]
    pub post_processing: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lora: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub controlnet: u32,
    /// Potluck: the request wants workers that keep nothing, and this one keeps prompts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keeps_prompts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WorkerType {
    Text,
    Image,
    /// An alchemist: interrogation forms (captions, upscales, ...) of an image.
    Interrogation,
}

impl WorkerType {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerType::Text => "text",
            WorkerType::Image => "image",
            WorkerType::Interrogation => "interrogation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(WorkerType::Text),
            "image" => Some(WorkerType::Image),
            "interrogation" => Some(WorkerType::Interrogation),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkerKudosDetails {
    pub generated: f64,
    pub uptime: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkerDetails {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: WorkerType,
    pub online: bool,
    pub requests_fulfilled: i64,
    pub kudos_rewards: f64,
    pub kudos_details: WorkerKudosDetails,
    pub performance: String,
    pub threads: i64,
    pub uptime: i64,
    pub maintenance_mode: bool,
    /// Only its owner and moderators see it: a paused worker gets no jobs but its owner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    pub info: Option<String>,
    pub nsfw: bool,
    /// `name#id` of its owner: for the owner and moderators, and for everyone when the owner
    /// made their workers public (`public_workers`).
    pub owner: Option<String>,
    /// Its owner's contact address, for moderators (and the owner) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The team it works for; both fields null when none.
    pub team: TeamDetailsLite,
    pub trusted: bool,
    /// Potluck: the worker runs in a web browser tab, and is therefore never trusted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browser: bool,
    /// Potluck: the worker keeps prompts or results it is given (logs, caches, training).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keeps_prompts: bool,
    pub flagged: bool,
    /// How many signs of suspicion it has; only its owner and moderators see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicious: Option<i64>,
    pub uncompleted_jobs: i64,
    /// Potluck: how many of its results a check verified, and how many failed one.
    #[serde(default)]
    pub checks_passed: i64,
    #[serde(default)]
    pub checks_failed: i64,
    pub models: Vec<String>,
    /// An alchemist's forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forms: Option<Vec<String>>,
    pub bridge_agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_generated: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub megapixelsteps_generated: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub img2img: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub painting: Option<bool>,
    #[serde(
        default,
        rename = "post-processing",
        skip_serializing_if = "Option::is_none"
    )]
    pub post_processing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlnet: Option<bool>,
    /// The messages it has not seen expire yet; only its owner and moderators see them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<WorkerMessage>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModifyWorkerInput {
    /// Owner or moderator.
    pub maintenance: Option<bool>,
    /// What its owner's worker is told while in maintenance (up to 300 characters).
    pub maintenance_msg: Option<String>,
    /// Moderators only.
    pub paused: Option<bool>,
    /// Owner or moderator: up to 1000 characters, shown in its details.
    pub info: Option<String>,
    /// Owner or moderator: 5 to 100 characters, unique (whatever the case).
    pub name: Option<String>,
    /// Owner or moderator: the id of the team it joins, or "" to leave its team.
    pub team: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModifyWorker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name of the team it joined, or "None" when it left its team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeletedWorker {
    pub deleted_id: String,
    pub deleted_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserKudosDetails {
    pub accumulated: f64,
    pub gifted: f64,
    pub donated: f64,
    pub admin: f64,
    pub received: f64,
    pub recurring: f64,
    pub awarded: f64,
    /// Fees earned from others' requests made with one's styles.
    #[serde(default)]
    pub styled: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserAmountRecords {
    pub image: i64,
    pub text: i64,
    pub interrogation: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserThingRecords {
    pub megapixelsteps: f64,
    pub tokens: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserRecords {
    pub usage: UserThingRecords,
    pub contribution: UserThingRecords,
    pub fulfillment: UserAmountRecords,
    pub request: UserAmountRecords,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageDetails {
    pub megapixelsteps: f64,
    pub requests: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContributionsDetails {
    pub megapixelsteps: f64,
    pub fulfillments: i64,
}

/// A sign that an account (or one of its workers) may be acting in bad faith
/// (`GET /api/v2/users/{id}/suspicions`, Potluck's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SuspicionDetails {
    /// The reason's number: the AI Horde's where it means the same (2 profanity in a worker's
    /// name, 7 in a username, 8 a prompt the filters refused, 9 too many jobs aborted), and
    /// 100 a result that failed a verification check.
    pub reason: i64,
    pub description: String,
    /// The worker it was found on, if any, and its name while it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_name: Option<String>,
    /// Seconds since 1970.
    pub at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserDetails {
    /// `name#id`, unique.
    pub username: String,
    pub id: i64,
    pub kudos: f64,
    /// Rewards of the account's workers that wait for verification; only its owner and
    /// moderators see them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluating_kudos: Option<f64>,
    /// How many signs of suspicion it has; only its owner and moderators see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicious: Option<i64>,
    pub concurrency: i64,
    pub worker_invited: i64,
    pub moderator: bool,
    pub trusted: bool,
    pub flagged: bool,
    pub pseudonymous: bool,
    pub account_age: i64,
    pub kudos_details: UserKudosDetails,
    pub worker_count: i64,
    /// For the account itself and moderators, and for everyone when it made its workers public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_ids: Option<Vec<String>>,
    /// Potluck: whether everyone may see its workers; for the account itself and moderators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_workers: Option<bool>,
    pub records: UserRecords,
    pub usage: UsageDetails,
    pub contributions: ContributionsDetails,
    /// For the account itself and moderators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// `PUT /api/v2/users/{id}`: what to change, and who may.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModifyUserInput {
    /// Admins: kudos to add (or, when negative, remove).
    pub kudos: Option<f64>,
    /// Moderators: how many requests it may have waiting at once (0 to 500).
    pub concurrency: Option<i64>,
    /// Admins. A new moderator is trusted too.
    pub moderator: Option<bool>,
    /// Moderators. Trusting an account lifts its workers' pauses.
    pub trusted: Option<bool>,
    /// Moderators.
    pub flagged: Option<bool>,
    /// Moderators: how many workers it may add while workers join by invitation (0 to 1000).
    pub worker_invited: Option<i64>,
    /// Moderators: its signs of suspicion, and its workers', are forgotten.
    pub reset_suspicion: Option<bool>,
    /// The account itself or moderators: whether everyone may see its workers.
    pub public_workers: Option<bool>,
    /// The account itself (an account linked to a login provider) or moderators.
    pub username: Option<String>,
    /// The account itself: an e-mail address at which a worker's owner can be reached.
    pub contact: Option<String>,
    /// Any other field, such as the AI Horde's `usage_multiplier` or `vpn`, which Potluck does
    /// not honour: a change that sends one is refused, naming it, never silently ignored.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub unserved: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModifyUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_kudos: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_invited: Option<i64>,
    /// Its suspicion after a reset (0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_suspicion: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_workers: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KudosTransferInput {
    /// The recipient as `name#id` (the name part is informative; the id decides).
    pub username: String,
    pub amount: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KudosTransferred {
    pub transferred: f64,
}

/// Pseudonymous registration (a Potluck addition; the original uses a web form).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterInput {
    pub username: String,
}

/// The new account. `apikey` is shown this once and cannot be recovered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Registered {
    pub id: i64,
    pub username: String,
    pub apikey: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ActiveModel {
    pub name: String,
    /// Workers online serving it.
    pub count: u32,
    /// Recent throughput (tokens or megapixelsteps per second, per worker).
    pub performance: f64,
    /// Amount of work waiting (tokens or megapixelsteps).
    pub queued: f64,
    /// Generations waiting.
    pub jobs: f64,
    /// Estimated seconds to clear the queue.
    pub eta: u32,
    #[serde(rename = "type")]
    pub kind: WorkerType,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HordePerformance {
    pub queued_requests: i64,
    pub queued_text_requests: i64,
    pub worker_count: i64,
    pub text_worker_count: i64,
    pub thread_count: i64,
    pub text_thread_count: i64,
    pub queued_megapixelsteps: f64,
    pub past_minute_megapixelsteps: f64,
    pub queued_tokens: f64,
    pub past_minute_tokens: f64,
    pub queued_forms: f64,
    pub interrogator_count: i64,
    pub interrogator_thread_count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HordeModes {
    /// No new requests are taken; those queued were cancelled when it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_mode: Option<bool>,
    /// Only owners a moderator invited (`worker_invited`) may start new workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_only_mode: Option<bool>,
    /// New and anonymous accounts are limited harder; shown to moderators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raid_mode: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Heartbeat {
    pub message: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SimpleResponse {
    pub message: String,
}
