//! What the text and image pages share: the model and style choosers, and a request's panel
//! with its progress.

use std::future::Future;
use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;
use protocol::{ActiveModel, RequestStatusCheck};

use super::loaded;
use crate::api::styles::styles;
use crate::figures::format_wait;
use crate::forms::{Field, FormError};
use crate::live::{ticks, ticks_until};

/// How often the hydrated page looks at a running request.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// The form field of the model chooser.
const MODEL_FIELD: &str = "form[model]";
/// The form field of the style chooser.
const STYLE_FIELD: &str = "form[style]";

/// How often the model chooser's worker counts and waits are read again.
const MODELS_EVERY: Duration = Duration::from_secs(10);

/// The choice, under a generation form's *Advanced*, of workers that keep nothing they are
/// given (the request's `workers_keep_nothing`).
#[component]
pub fn KeepNothingChoice() -> impl IntoView {
    view! {
        <label class="check-label">
            <input type="checkbox" id="form[workers_keep_nothing]" name="form[workers_keep_nothing]" />
            " Only workers that keep nothing"
        </label>
    }
}

/// The model chooser of a generation form: the models online workers serve, with their worker
/// counts and waits kept fresh. `fetch` reads them; the choice survives each refresh.
#[component]
pub fn ModelChooser<F, Fut>(
    fetch: F,
    kind: &'static str,
    error: Signal<Option<FormError>>,
) -> impl IntoView
where
    F: Fn() -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<ActiveModel>, FormError>> + Send + 'static,
{
    let tick = ticks(MODELS_EVERY);
    let models = Resource::new(move || tick.get(), move |_| fetch());
    let chosen = RwSignal::new(None::<String>);
    view! {
        <Field label="Model" name=MODEL_FIELD api_field="models" error>
            <Transition fallback=|| view! { <select id=MODEL_FIELD name=MODEL_FIELD disabled=true></select> }>
                {move || Suspend::new(async move {
                    let models = models.await.unwrap_or_default();
                    view! { <ModelOptions models kind chosen /> }
                })}
            </Transition>
        </Field>
    }
}

/// The style chooser of a generation form: none, or one of the most used public styles of
/// `kind` (`text` or `image`), which then brings its prompt template, model and settings.
#[component]
pub fn StyleChooser(kind: &'static str, error: Signal<Option<FormError>>) -> impl IntoView {
    let choices = Resource::new(|| (), move |_| styles(kind.to_string()));
    view! {
        <Field label="Style" name=STYLE_FIELD api_field="style" error
            hint="A style brings its own prompt template, model and settings; yours go into its template.">
            <Transition fallback=|| view! { <select id=STYLE_FIELD name=STYLE_FIELD disabled=true></select> }>
                {move || Suspend::new(async move {
                    let options = choices
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .map(|style| view! {
                            <option value=style.id title=style.info.unwrap_or_default()>{style.name}</option>
                        })
                        .collect_view();
                    view! {
                        <select id=STYLE_FIELD name=STYLE_FIELD
                            aria-describedby=format!("{STYLE_FIELD}-hint {STYLE_FIELD}-error")>
                            <option value="">"None"</option>
                            {options}
                        </select>
                    }
                })}
            </Transition>
        </Field>
    }
}

/// A queued request's panel: `fetch` is asked for its state every second until `finished`
/// says it is over, then no more (a finished request has nothing new to show, and its result is
/// purged a while after delivery).
pub fn request_panel<T, F, Fut, V>(
    title: &'static str,
    id: String,
    fetch: F,
    finished: fn(&T) -> bool,
    show: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, FormError>> + Send + 'static,
    V: IntoView + 'static,
{
    let over = RwSignal::new(false);
    let tick = ticks_until(POLL_EVERY, over);
    let status = Resource::new(move || tick.get(), move |_| fetch(id.clone()));
    Effect::new(move |_| {
        if let Some(Ok(status)) = status.get() {
            over.set(finished(&status));
        }
    });
    view! {
        <section class="request" aria-labelledby="request-title">
            <h2 id="request-title">{title}</h2>
            {loaded(status, "Looking at the queue…", show)}
        </section>
    }
}

/// The options of a model chooser: each model with its workers and wait. Without any model
/// online, the only choice is "any model", and a notice says that the request will wait.
#[component]
fn ModelOptions(
    models: Vec<ActiveModel>,
    kind: &'static str,
    chosen: RwSignal<Option<String>>,
) -> impl IntoView {
    let none = models.is_empty();
    let options = models
        .into_iter()
        .map(|m| {
            let workers = match m.count {
                1 => "1 worker".to_string(),
                n => format!("{n} workers"),
            };
            let label = format!(
                "{} ({workers}, wait {})",
                m.name,
                format_wait(m.jobs, m.eta)
            );
            let selected = chosen.get_untracked().as_deref() == Some(m.name.as_str());
            view! { <option value=m.name selected=selected>{label}</option> }
        })
        .collect_view();
    view! {
        <select
            id=MODEL_FIELD
            name=MODEL_FIELD
            aria-describedby=format!("{MODEL_FIELD}-error")
            on:change=move |ev| chosen.set(Some(event_target_value(&ev)))
        >
            {none.then(|| view! { <option value="">"Any model"</option> })}
            {options}
        </select>
        {none.then(|| view! {
            <p class="notice">
                "No " {kind} " model is being served right now: a request waits until a worker "
                "comes online. " <A href="/contribute">"Run one"</A>
            </p>
        })}
    }
}

/// Where a request that is not finished stands: in the queue, or with a worker.
#[component]
pub fn QueueState(check: RequestStatusCheck) -> impl IntoView {
    let (state, text) = if check.processing > 0 {
        ("processing", "A worker is on it…".to_string())
    } else {
        let wait = match check.wait_time {
            0 => "soon".to_string(),
            secs => format!("in {}", format_wait(1.0, secs)),
        };
        (
            "waiting",
            format!(
                "Waiting in the queue: position {}, expected to start {wait}.",
                check.queue_position + 1
            ),
        )
    };
    view! {
        // Without JavaScript the page reloads itself to show the progress.
        <noscript><meta http-equiv="refresh" content="3" /></noscript>
        <p class="progress" role="status" aria-live="polite" data-state=state id="request-state">
            <span class="spinner" aria-hidden="true"></span>
            {text}
        </p>
        {(!check.is_possible).then(|| view! {
            <p class="notice">"No worker online can take this request right now; it waits for one."</p>
        })}
    }
}

/// A request that finished without a result to show.
#[component]
pub fn RequestEnd(faulted: bool) -> impl IntoView {
    if faulted {
        view! {
            <p class="error" role="alert" data-state="faulted">
                "The workers could not complete this request. Try again, perhaps with another model."
            </p>
        }
        .into_any()
    } else {
        view! {
            <p class="notice" role="status" data-state="ended">
                "This request ended without a result: it was cancelled or expired."
            </p>
        }
        .into_any()
    }
}
