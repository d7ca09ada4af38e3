//! The home page: what Potluck is, and how busy it is right now.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::cluster::ModelTable;
use super::{loaded, Stat};
use crate::clock::UtcTime;
use crate::figures::{queue_figures, QueueSnapshot};

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
    let refresh = crate::live::ticks(REFRESH_EVERY);
    let figures = Resource::new(move || refresh.get(), |_| queue_figures());

    view! {
        <section class="figures" aria-labelledby="figures-title">
            <h2 id="figures-title">"Right now"</h2>
            {loaded(figures, "Loading the queue figures…", |figures| view! { <Figures figures /> })}
        </section>
    }
}

#[component]
fn Figures(figures: QueueSnapshot) -> impl IntoView {
    let taken_at = UtcTime::from_unix(figures.taken_at);
    view! {
        <dl class="stats">
            <Stat label="Text workers online" value=figures.text_workers.to_string() id="text-workers" />
            <Stat label="Image workers online" value=figures.image_workers.to_string() id="image-workers" />
            <Stat label="Text jobs waiting" value=figures.text_jobs_waiting.to_string() id="text-jobs" />
            <Stat label="Image jobs waiting" value=figures.image_jobs_waiting.to_string() id="image-jobs" />
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
