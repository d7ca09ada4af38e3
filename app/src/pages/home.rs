//! The home page: what Potluck is, and how busy it is right now.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use protocol::ActiveModel;

use crate::clock::UtcTime;
use crate::figures::{format_wait, queue_figures, QueueSnapshot};

/// How often the hydrated page asks for fresh figures.
const REFRESH_EVERY: Duration = Duration::from_secs(10);

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="" />
        <section class="intro">
            <h1>"Potluck"</h1>
            <p class="lead">
                "Potluck is a free, crowdsourced inference cluster for open-source AI models: ask it \
                 for text or images and volunteers' computers do the work. Volunteers who run \
                 workers earn kudos, and kudos only buy a better place in the queue."
            </p>
            <ul class="actions">
                <li><A href="/generate/text" attr:class="button primary">"Generate text"</A></li>
                <li><A href="/generate/image" attr:class="button">"Generate images"</A></li>
                <li><A href="/contribute" attr:class="button">"Contribute"</A></li>
                <li><a href="/api/swagger.json" class="button">"API docs"</a></li>
            </ul>
        </section>
        <LiveFigures />
    }
}

/// The queue figures: rendered into the HTML on the server, refreshed by the hydrated page.
#[component]
fn LiveFigures() -> impl IntoView {
    // Bumping the counter refetches the figures.
    let refresh = RwSignal::new(0u64);
    let figures = Resource::new(move || refresh.get(), |_| queue_figures());
    // Effects only run in the browser, so this flag tells (people and tests) that the page is
    // hydrated, and the interval exists only there.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| {
        hydrated.set(true);
        let tick = move || {
            // A hidden tab does not need fresh figures; it gets them on the next tick.
            if !document().hidden() {
                refresh.update(|n| *n += 1);
            }
        };
        match set_interval_with_handle(tick, REFRESH_EVERY) {
            Ok(handle) => on_cleanup(move || handle.clear()),
            Err(err) => leptos::logging::error!("cannot refresh the figures: {err:?}"),
        }
    });

    view! {
        <section
            class="figures"
            aria-labelledby="figures-title"
            data-hydrated=move || hydrated.get().to_string()
        >
            <h2 id="figures-title">"Right now"</h2>
            // Transition keeps the last figures on screen while new ones load.
            <Transition fallback=|| view! { <p>"Loading the queue figures…"</p> }>
                {move || Suspend::new(async move {
                    match figures.await {
                        Ok(figures) => view! { <Figures figures /> }.into_any(),
                        Err(err) => view! {
                            <p class="error" role="status">
                                {format!("The queue figures could not be loaded: {}", error_text(&err))}
                            </p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The message of a server function error, without Leptos' prefix.
fn error_text(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

#[component]
fn Figures(figures: QueueSnapshot) -> impl IntoView {
    let taken_at = UtcTime::from_unix(figures.taken_at);
    view! {
        <dl class="stats">
            <Stat label="Text workers online" value=figures.text_workers id="text-workers" />
            <Stat label="Image workers online" value=figures.image_workers id="image-workers" />
            <Stat label="Text jobs waiting" value=figures.text_jobs_waiting id="text-jobs" />
            <Stat label="Image jobs waiting" value=figures.image_jobs_waiting id="image-jobs" />
        </dl>
        <ModelTable models=figures.models />
        <p class="updated">
            "Updated at "
            <time id="figures-updated" datetime=taken_at.rfc3339()>
                {taken_at.clock()} " UTC"
            </time>
            "; the figures refresh every " {REFRESH_EVERY.as_secs()} " seconds while this page is open."
        </p>
    }
}

#[component]
fn Stat(label: &'static str, value: i64, id: &'static str) -> impl IntoView {
    view! {
        <div class="stat">
            <dt>{label}</dt>
            <dd id=id>{value}</dd>
        </div>
    }
}

#[component]
fn ModelTable(models: Vec<ActiveModel>) -> impl IntoView {
    if models.is_empty() {
        return view! {
            <p class="empty">
                "No models are being served right now. "
                <A href="/contribute">"Run a worker"</A>
                " to change that."
            </p>
        }
        .into_any();
    }
    let rows = models
        .into_iter()
        .map(|m| {
            view! {
                <tr>
                    <th scope="row">{m.name}</th>
                    <td>{m.kind.as_str()}</td>
                    <td class="num">{m.count}</td>
                    <td class="num">{m.jobs.round() as i64}</td>
                    <td class="num">{format_wait(m.jobs, m.eta)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="models">
                <caption>"Models being served"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Model"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col" class="num">"Workers"</th>
                        <th scope="col" class="num">"Jobs waiting"</th>
                        <th scope="col" class="num">"Estimated wait"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}
