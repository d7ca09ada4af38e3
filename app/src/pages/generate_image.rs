//! The image generation page: the form, then the request's progress and its images as a gallery
//! on the same page (`/generate/image?request=ID`).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use protocol::{GenerationStable, RequestStatusStable};

use super::request::{
    request_panel, KeepNothingChoice, ModelChooser, QueueState, RequestEnd, StyleChooser,
};
use crate::api::image::{image_models, image_status, CancelImage, QueueImage};
use crate::forms::{action_error, Field, FormProblem, NumberField, SubmitButton};

const FIELDS: &[&str] = &[
    "prompt",
    "models",
    "style",
    "params.width",
    "params.height",
    "params.steps",
    "params.cfg_scale",
    "params.sampler_name",
    "params.n",
];

#[component]
pub fn GenerateImage() -> impl IntoView {
    let queue = ServerAction::<QueueImage>::new();
    let error = action_error(queue);
    let query = use_query_map();
    let request = move || query.read().get("request");
    view! {
        <Title text="Generate images" />
        <section class="page generate">
            <h1>"Generate images"</h1>
            <p class="lead">
                "Describe the picture you want; a volunteer's worker draws it. Images are kept only \
                 until you have seen them, then deleted."
            </p>
            <ActionForm action=queue attr:id="image-form" attr:novalidate=true attr:class="form">
                <FormProblem error fields=FIELDS />
                <Field label="Prompt" name="form[prompt]" api_field="prompt" error>
                    <textarea id="form[prompt]" name="form[prompt]" rows="3"
                        aria-describedby="form[prompt]-error"
                        placeholder="A lighthouse on a cliff at dusk, oil painting"></textarea>
                </Field>
                <Field label="Negative prompt" name="form[negative_prompt]" api_field="negative_prompt"
                    error hint="What the image should not show (optional).">
                    <input type="text" id="form[negative_prompt]" name="form[negative_prompt]"
                        aria-describedby="form[negative_prompt]-hint" />
                </Field>
                <ModelChooser fetch=image_models kind="image" error />
                <StyleChooser kind="image" error />
                <div class="grid">
                    <NumberField label="Width (pixels)" name="form[width]" api_field="params.width"
                        value="512" min="64" max="3072" step="64" error />
                    <NumberField label="Height (pixels)" name="form[height]" api_field="params.height"
                        value="512" min="64" max="3072" step="64" error />
                    <NumberField label="Images" name="form[count]" api_field="params.n" value="1" min="1"
                        max="20" error />
                </div>
                <details class="advanced">
                    <summary>"Advanced settings"</summary>
                    <div class="grid">
                        <NumberField label="Steps" name="form[steps]" api_field="params.steps" value="30"
                            min="1" max="500" error />
                        <NumberField label="Guidance (CFG scale)" name="form[cfg_scale]"
                            api_field="params.cfg_scale" value="7.5" min="0" max="100" step="0.5" error />
                        <Field label="Sampler" name="form[sampler]" api_field="params.sampler_name" error>
                            <select id="form[sampler]" name="form[sampler]">
                                {protocol::SAMPLERS.iter().map(|s| view! {
                                    <option value=*s selected=*s == "k_euler_a">{*s}</option>
                                }).collect_view()}
                            </select>
                        </Field>
                        <Field label="Seed" name="form[seed]" api_field="params.seed" error
                            hint="Empty for a random one; the same seed gives the same image.">
                            <input type="text" id="form[seed]" name="form[seed]"
                                aria-describedby="form[seed]-hint" />
                        </Field>
                    </div>
                    <KeepNothingChoice />
                </details>
                <SubmitButton label="Generate" busy="Queueing…" pending=queue.pending() id="generate" />
            </ActionForm>
            {move || request().map(|id| view! { <ImageRequest id /> })}
        </section>
    }
}

/// A queued request: where it is in the queue, then its result.
#[component]
fn ImageRequest(id: String) -> impl IntoView {
    let cancel = ServerAction::<CancelImage>::new();
    let finished = |status: &RequestStatusStable| status.check.done || status.check.faulted;
    request_panel(
        "Your images",
        id.clone(),
        image_status,
        finished,
        move |status| {
            view! { <ImageProgress status cancel id=id.clone() /> }
        },
    )
}

#[component]
fn ImageProgress(
    status: RequestStatusStable,
    cancel: ServerAction<CancelImage>,
    id: String,
) -> impl IntoView {
    let check = status.check;
    let finished = check.done || check.faulted;
    let images: Vec<GenerationStable> = status
        .generations
        .into_iter()
        .filter(|g| !g.img.is_empty())
        .collect();
    let shown = !images.is_empty();
    view! {
        {(!finished).then(|| view! {
            <QueueState check=check.clone() />
            <ActionForm action=cancel>
                <input type="hidden" name="id" value=id />
                <button type="submit" class="button" id="cancel">"Cancel"</button>
            </ActionForm>
        })}
        {shown.then(|| view! { <Gallery images /> })}
        {(finished && !shown).then(|| view! { <RequestEnd faulted=check.faulted /> })}
    }
}

#[component]
fn Gallery(images: Vec<GenerationStable>) -> impl IntoView {
    view! {
        <ul class="gallery" data-state="done">
            {images.into_iter().enumerate().map(|(i, image)| {
                let file = format!("potluck-{}.webp", image.id);
                let alt = format!("Image {} of the request, by {}", i + 1, image.worker_name);
                view! {
                    <li>
                        <figure>
                            <img src=image.img.clone() alt=alt loading="lazy" />
                            <figcaption>
                                {image.model} " · seed " {image.seed} " · " {image.worker_name}
                                " · " <a href=image.img download=file>"Download"</a>
                            </figcaption>
                        </figure>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
