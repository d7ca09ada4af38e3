//! Pages the navigation promises but whose interactive part is not built yet. Each says what
//! it will do and how to do it today through the API, rather than leaving a dead link.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn GenerateText() -> impl IntoView {
    view! {
        <Planned
            title="Generate text"
            what="Write a prompt, pick a model, and read the answer as volunteers' workers produce it."
            endpoint="POST /api/v2/generate/text/async"
        />
    }
}

#[component]
pub fn GenerateImage() -> impl IntoView {
    view! {
        <Planned
            title="Generate images"
            what="Describe an image, pick a model, and fetch the result when a worker has drawn it."
            endpoint="POST /api/v2/generate/async"
        />
    }
}

#[component]
pub fn Contribute() -> impl IntoView {
    view! {
        <Planned
            title="Contribute"
            what="Run a worker, natively or in this browser tab with WebGPU, and earn kudos for the \
                  jobs it completes. Nothing will run unless you start it here, and you can stop at \
                  any time."
            endpoint="POST /api/v2/generate/text/pop"
        />
    }
}

#[component]
fn Planned(title: &'static str, what: &'static str, endpoint: &'static str) -> impl IntoView {
    view! {
        <Title text=title />
        <section class="page">
            <h1>{title}</h1>
            <p>{what}</p>
            <p class="notice">
                "This page is not ready yet. Meanwhile the same is possible through the AI \
                 Horde compatible API: " <code>{endpoint}</code> " (see the "
                <a href="/api/swagger.json">"API description"</a> ")."
            </p>
        </section>
    }
}
