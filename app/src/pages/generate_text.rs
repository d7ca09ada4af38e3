//! The text generation page: the form, then the request's progress and its result on the same
//! page (`/generate/text?request=ID`), so that the form keeps what was typed for a retry.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use protocol::RequestStatusKobold;

use super::request::{
    request_panel, KeepNothingChoice, ModelChooser, QueueState, RequestEnd, StyleChooser,
};
use crate::api::text::{text_models, text_status, CancelText, QueueText};
use crate::forms::{action_error, Field, FormProblem, NumberField, SubmitButton};
use crate::live::CopyButton;

/// The fields of the form whose errors show next to them.
const FIELDS: &[&str] = &[
    "prompt",
    "models",
    "style",
    "params.max_length",
    "params.max_context_length",
    "temperature",
    "top_p",
    "top_k",
    "rep_pen",
];

#[component]
pub fn GenerateText() -> impl IntoView {
    let queue = ServerAction::<QueueText>::new();
    let error = action_error(queue);
    let query = use_query_map();
    let request = move || query.read().get("request");
    view! {
        <Title text="Generate text" />
        <section class="page generate">
            <h1>"Generate text"</h1>
            <p class="lead">
                "Write a prompt and pick a model; a volunteer's worker writes the answer. Requests \
                 without an account are free and wait behind those of registered users."
            </p>
            <ActionForm action=queue attr:id="text-form" attr:novalidate=true attr:class="form">
                <FormProblem error fields=FIELDS />
                <Field label="Prompt" name="form[prompt]" api_field="prompt" error>
                    <textarea
                        id="form[prompt]"
                        name="form[prompt]"
                        rows="6"
                        aria-describedby="form[prompt]-error"
                        placeholder="Once upon a time, a lighthouse keeper…"
                    ></textarea>
                </Field>
                <ModelChooser fetch=text_models kind="text" error />
                <StyleChooser kind="text" error />
                <details class="advanced">
                    <summary>"Advanced settings"</summary>
                    <div class="grid">
                        <NumberField label="Maximum length (tokens)" name="form[max_length]"
                            api_field="params.max_length" value="120" min="16" max="4096" error />
                        <NumberField label="Context length (tokens)" name="form[max_context_length]"
                            api_field="params.max_context_length" value="2048" min="80" max="1048576"
                            error />
                        <NumberField label="Temperature" name="form[temperature]" api_field="temperature"
                            value="0.7" min="0" max="5" step="0.05" error />
                        <NumberField label="Top p" name="form[top_p]" api_field="top_p" value="0.92"
                            min="0.001" max="1" step="0.01" error />
                        <NumberField label="Top k (0 turns it off)" name="form[top_k]" api_field="top_k"
                            value="100" min="0" max="100" error />
                        <NumberField label="Repetition penalty" name="form[rep_pen]" api_field="rep_pen"
                            value="1.1" min="1" max="3" step="0.01" error />
                    </div>
                    <KeepNothingChoice />
                </details>
                <SubmitButton label="Generate" busy="Queueing…" pending=queue.pending() id="generate" />
            </ActionForm>
            {move || request().map(|id| view! { <TextRequest id /> })}
        </section>
    }
}

/// A queued request: where it is in the queue, the text as the worker writes it, then the
/// result.
#[component]
fn TextRequest(id: String) -> impl IntoView {
    let cancel = ServerAction::<CancelText>::new();
    let written = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    {
        let id = id.clone();
        Effect::new(move |_| leptos::task::spawn_local(follow_text(id.clone(), written)));
    }
    let finished = |status: &RequestStatusKobold| status.check.done || status.check.faulted;
    request_panel(
        "Your request",
        id.clone(),
        text_status,
        finished,
        move |status| {
            view! { <TextProgress status cancel id=id.clone() written /> }
        },
    )
}

/// Appends the request's text to `written` as the worker streams it, until the request is over
/// or the page moves on.
#[cfg(feature = "hydrate")]
async fn follow_text(id: String, written: RwSignal<String>) {
    use crate::api::text::written_text;
    use futures::StreamExt;

    let Ok(pieces) = written_text(id).await else {
        // The page still shows the result when it comes.
        return;
    };
    let mut pieces = pieces.into_inner();
    let mut buffer = String::new();
    while let Some(Ok(chunk)) = pieces.next().await {
        buffer.push_str(&chunk);
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let Ok(piece) = serde_json::from_str::<String>(line.trim_end()) else {
                continue;
            };
            // Gone when the page moved on to another request.
            if written.try_update(|text| text.push_str(&piece)).is_none() {
                return;
            }
        }
    }
}

#[component]
fn TextProgress(
    status: RequestStatusKobold,
    cancel: ServerAction<CancelText>,
    id: String,
    written: RwSignal<String>,
) -> impl IntoView {
    let check = status.check;
    let finished = check.done || check.faulted;
    if !finished {
        let writing = move || !written.read().is_empty();
        return view! {
            <QueueState check />
            <Show when=writing>
                <figure class="result writing">
                    <pre id="written-text" aria-live="polite">{move || written.get()}</pre>
                    <figcaption>"Being written…"</figcaption>
                </figure>
            </Show>
            <ActionForm action=cancel>
                <input type="hidden" name="id" value=id />
                <button type="submit" class="button" id="cancel">"Cancel"</button>
            </ActionForm>
        }
        .into_any();
    }
    match status.generations.into_iter().next() {
        Some(generation) if !check.faulted => view! {
            <figure class="result" data-state="done">
                <pre id="result-text">{generation.text.clone()}</pre>
                <figcaption>"Written by " {generation.worker_name} " with " {generation.model}</figcaption>
            </figure>
            <div class="result-actions">
                <CopyButton text=generation.text id="copy-result" />
                // The form above still holds the prompt and the settings.
                <button type="submit" form="text-form" class="button">"Retry"</button>
            </div>
        }
        .into_any(),
        _ => view! { <RequestEnd faulted=check.faulted /> }.into_any(),
    }
}
