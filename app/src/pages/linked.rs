//! Sign-in through a login provider in the pages: the providers' buttons beside the key and
//! the registration, the reason a sign-in failed, and, on the account page, what only a linked
//! account can change (its name and its key).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::SessionChanged;
use crate::api::access::login_providers;
use crate::api::account::{Rename, ResetKey};
use crate::forms::{action_error, Field, FormProblem, SubmitButton};
use crate::live::CopyButton;

/// "Sign in with …" for each provider the server offers; nothing when it offers none.
#[component]
pub fn ProviderButtons() -> impl IntoView {
    let providers = Resource::new(|| (), |_| login_providers());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let providers = providers.await.unwrap_or_default();
                (!providers.is_empty()).then(|| {
                    let buttons = providers
                        .into_iter()
                        .map(|p| {
                            // A full navigation to the server, not a route of this app.
                            let href = format!("/auth/{}/login", p.id);
                            let id = format!("login-with-{}", p.id);
                            view! {
                                <li><a href=href rel="external" class="button" id=id>
                                    "Sign in with " {p.label}
                                </a></li>
                            }
                        })
                        .collect_view();
                    view! {
                        <div class="login-providers">
                            <ul class="actions">{buttons}</ul>
                            <p class="hint">
                                "Of what the provider knows about you, this server keeps only \
                                 the opaque id it has for you: not your name, e-mail or profile."
                            </p>
                        </div>
                    }
                })
            })}
        </Suspense>
    }
}

/// Why the last sign-in through a provider failed (`/login?login_failed=…`).
#[component]
pub fn LoginFailed() -> impl IntoView {
    let query = use_query_map();
    move || {
        let reason = query.read().get("login_failed")?;
        let text = match reason.as_str() {
            "expired" => "That sign-in took too long or was started in another browser; try again.",
            "refused" => "The provider did not sign you in.",
            "unknown-provider" => "This server has no such login provider.",
            "provider" => {
                "The provider could not be reached or gave a wrong answer; try again later."
            }
            _ => "Something went wrong on the server; try again in a moment.",
        };
        Some(view! { <p class="problem" role="alert" id="login-failed">{text}</p> })
    }
}

/// The account page's name and key, for an account that signs in through `provider`.
#[component]
pub fn LinkedAccount(
    provider: String,
    username: String,
    rename: ServerAction<Rename>,
) -> impl IntoView {
    let reset = ServerAction::<ResetKey>::new();
    let rename_error = action_error(rename);
    let reset_error = action_error(reset);
    let new_key = move || reset.value().get().and_then(Result::ok);
    let changed = use_context::<SessionChanged>().unwrap_or_default();
    Effect::new(move |_| {
        if rename.value().get().is_some_and(|r| r.is_ok()) {
            changed.bump();
        }
    });
    let welcome = use_query_map().read_untracked().get("welcome").is_some();
    view! {
        <h2 id="linked">"Name and key"</h2>
        {welcome.then(|| view! {
            <p class="notice" role="status" id="welcome">
                "Welcome! Your account was created through " {provider.clone()} ". Nothing of your \
                 profile there was kept: choose the name others see, and get a key for AI Horde \
                 clients below if you want one."
            </p>
        })}
        <p id="linked-provider">
            "You sign in with " <strong>{provider}</strong>
            ", so you can change your name and get a new API key whenever you like."
        </p>
        <ActionForm action=rename attr:class="form inline-form" attr:id="rename-form" attr:novalidate=true>
            <FormProblem error=rename_error fields=&["username"] />
            <Field label="Name" name="username" api_field="username" error=rename_error>
                <input type="text" id="new-username" name="username" value=username
                    autocomplete="username" aria-describedby="username-error" />
            </Field>
            <SubmitButton label="Rename" busy="Renaming…" pending=rename.pending() id="rename" class="button" />
        </ActionForm>
        <h3>"API key"</h3>
        <p class="hint">
            "For the API and AI Horde clients. A new key replaces the old one at once, and signs \
             out every other browser."
        </p>
        <FormProblem error=reset_error fields=&[] />
        <ActionForm action=reset attr:class="inline">
            <button type="submit" class="button" id="reset-key">"Get a new API key"</button>
        </ActionForm>
        {move || new_key().map(|key| view! {
            <div class="key-box" role="status" id="new-key">
                <p><code id="apikey" class="key">{key.clone()}</code></p>
                <CopyButton text=key label="Copy the key" id="copy-key" />
                <p class="warning"><strong>"Shown only this once:"</strong> " only its hash is kept."</p>
            </div>
        })}
    }
}
