//! The OpenAI-compatible API under `/v1`: models, chat completions and completions, with
//! streaming. A `/v1` request is an ordinary text request of the queue (same priority, kudos,
//! worker matching, limits and privacy rules as `/api/v2/generate/text/async`); only the shapes
//! differ, and the answer waits for (or streams) the workers' result.

mod error;
mod plan;
mod respond;

pub use error::OpenAiApiError;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use potluck_core::{Account, ModelAvailability, TextMinimums};
use protocol::openai_api::{
    ChatCompletionRequest, CompletionRequest, ModelList, ModelObject, OneOrMany, OpenAiError,
};

use crate::api::{AppState, ClientHash};
use error::OpenAiResult;
use plan::{Endpoint, Plan};

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/models", get(models))
        // Model names may hold slashes (`org/Model-7B`).
        .route("/models/{*model}", get(model))
        .route("/chat/completions", post(chat_completions))
        .route("/completions", post(completions))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/v1", v1)
        .route("/v1/", any(not_found))
        .with_state(state)
}

async fn not_found() -> OpenAiApiError {
    OpenAiApiError::not_found()
}

async fn method_not_allowed() -> OpenAiApiError {
    OpenAiApiError::method_not_allowed()
}

/// The account of `Authorization: Bearer KEY` (or of an `apikey` header, as `/api/v2` takes
/// it); anonymous without either.
pub struct Bearer(pub Account);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = OpenAiApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let key = header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| header("apikey"));
        Ok(Bearer(state.horde.authenticate(key).await?))
    }
}

/// A JSON body, its errors in OpenAI's shape.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = OpenAiApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| OpenAiApiError::invalid("body", format!("Invalid request body: {e}")))
    }
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The text models online workers serve now.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, body = ModelList)))]
pub async fn models(State(state): State<AppState>) -> OpenAiResult<Json<ModelList>> {
    let models = state.horde.online_text_models().await?;
    Ok(Json(ModelList {
        object: "list".into(),
        data: models.into_iter().map(model_object).collect(),
    }))
}

/// One model, if online workers serve it.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai",
    params(("model" = String, Path, description = "The model's name, slashes included")),
    responses((status = 200, body = ModelObject), (status = 404, body = OpenAiError)))]
pub async fn model(
    State(state): State<AppState>,
    wanted: Result<Path<String>, PathRejection>,
) -> OpenAiResult<Json<ModelObject>> {
    let Path(wanted) = wanted?;
    let models = state.horde.online_text_models().await?;
    models
        .into_iter()
        .find(|id| *id == wanted)
        .map(|id| Json(model_object(id)))
        .ok_or_else(|| OpenAiApiError::unknown_model(&wanted))
}

fn model_object(id: String) -> ModelObject {
    ModelObject {
        id,
        object: "model".into(),
        // Models have no creation date here; OpenAI's clients only need the field.
        created: 0,
        owned_by: "potluck".into(),
    }
}

/// A chat completion: the messages become a prompt through the model's chat template.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = ChatCompletionRequest,
    params(("Authorization" = Option<String>, Header, description = "Bearer API key; none is anonymous")),
    responses((status = 200, body = protocol::openai_api::ChatCompletion,
               description = "the completion, or with stream: true Server-Sent Events of chat.completion.chunk objects"),
              (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
              (status = 404, body = OpenAiError), (status = 429, body = OpenAiError),
              (status = 503, body = OpenAiError), (status = 504, body = OpenAiError)))]
pub async fn chat_completions(
    State(state): State<AppState>,
    Bearer(account): Bearer,
    ClientHash(client): ClientHash,
    Body(request): Body<ChatCompletionRequest>,
) -> OpenAiResult<Response> {
    let template = state.horde.chat_template_for(&request.model).await?;
    let fallback = template.is_none();
    let prompt = plan::chat_prompt(&request.messages, template)?;
    let mut plan = Plan::new(Endpoint::Chat, request.model, prompt, request.sampling)?;
    if fallback {
        // The transcript's next turn would be the user's.
        plan.add_stop("\nUser:");
    }
    run(state, account, client, plan).await
}

/// A completion of a raw prompt.
#[utoipa::path(post, path = "/v1/completions", tag = "openai", request_body = CompletionRequest,
    params(("Authorization" = Option<String>, Header, description = "Bearer API key; none is anonymous")),
    responses((status = 200, body = protocol::openai_api::TextCompletion,
               description = "the completion, or with stream: true Server-Sent Events of text_completion objects"),
              (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
              (status = 404, body = OpenAiError), (status = 429, body = OpenAiError),
              (status = 503, body = OpenAiError), (status = 504, body = OpenAiError)))]
pub async fn completions(
    State(state): State<AppState>,
    Bearer(account): Bearer,
    ClientHash(client): ClientHash,
    Body(request): Body<CompletionRequest>,
) -> OpenAiResult<Response> {
    let prompt = match request.prompt {
        OneOrMany::One(prompt) => prompt,
        OneOrMany::Many(mut prompts) if prompts.len() == 1 => prompts.remove(0),
        OneOrMany::Many(_) => {
            return Err(OpenAiApiError::invalid(
                "prompt",
                "one prompt per request (use n for several answers)",
            ))
        }
    };
    let plan = Plan::new(
        Endpoint::Completions,
        request.model,
        prompt,
        request.sampling,
    )?;
    run(state, account, client, plan).await
}

/// Queues the plan's request and answers with its result, waited for or streamed.
async fn run(
    state: AppState,
    account: Account,
    client: Option<String>,
    plan: Plan,
) -> OpenAiResult<Response> {
    let largest_context = match state.horde.text_model_availability(&plan.model).await? {
        ModelAvailability::Unknown => return Err(OpenAiApiError::unknown_model(&plan.model)),
        ModelAvailability::Offline => return Err(OpenAiApiError::no_worker(&plan.model)),
        ModelAvailability::Online {
            max_context_length,
            max_length,
        } => {
            if plan.max_tokens > max_length {
                return Err(OpenAiApiError::invalid(
                    "max_tokens",
                    format!(
                        "the workers serving {:?} generate at most {max_length} tokens",
                        plan.model
                    ),
                ));
            }
            max_context_length
        }
    };
    let input = plan.horde_input(largest_context);
    let accepted = state
        .horde
        .submit_text_with(&account, input, client, TextMinimums::OPENAI)
        .await?;
    let request_id = accepted.id.unwrap_or_default();
    let answer = respond::Answer {
        created: unix_seconds(),
        plan,
        request_id,
    };
    if answer.plan.stream {
        Ok(answer.stream(state))
    } else {
        answer.wait(state).await
    }
}
