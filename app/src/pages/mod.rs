//! The pages, and the header and footer around them.

mod account;
mod cluster;
mod contribute;
mod generate_image;
mod generate_text;
mod home;
mod linked;
mod moderation;
mod privacy;
mod private;
mod request;
mod sharing;
mod your_data;

pub use account::{AccountPage, LoginPage, RegisterPage};
pub use cluster::{ModelsPage, StatusPage, WorkersPage};
pub use contribute::Contribute;
pub use generate_image::GenerateImage;
pub use generate_text::GenerateText;
pub use home::HomePage;
pub use moderation::ModerationPage;
pub use privacy::PrivacyPage;
pub use private::{PrivateBanner, PrivateServer};

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::api::account::{signed_in, LogOut};
use crate::forms::FormError;

/// The site name, the main navigation and the account links, on every page.
#[component]
pub fn Header() -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <a class="brand" href="/">"Potluck"</a>
            <nav aria-label="Main">
                <ul>
                    <li><A href="/generate/text">"Text"</A></li>
                    <li><A href="/generate/image">"Images"</A></li>
                    <li><A href="/models">"Models"</A></li>
                    <li><A href="/workers">"Workers"</A></li>
                    <li><A href="/status">"Status"</A></li>
                    <li><A href="/contribute">"Contribute"</A></li>
                </ul>
            </nav>
            <AccountLinks />
        </header>
    }
}

/// Bumped when this browser signs in without leaving the page (registering does), so that the
/// header reads again who it is.
#[derive(Clone, Copy, Default)]
pub struct SessionChanged(RwSignal<u64>);

impl SessionChanged {
    pub fn bump(self) {
        self.0.update(|n| *n += 1);
    }
}

/// "Log in / Register" ("Log in" alone on a private server, which has no registration), or the
/// account's name, kudos and "Log out". Read again on every navigation and sign-in or sign-out,
/// so that it follows them.
#[component]
fn AccountLinks() -> impl IntoView {
    let private = private::private_server_context();
    let location = use_location();
    let log_out = ServerAction::<LogOut>::new();
    let changed = use_context::<SessionChanged>().unwrap_or_default();
    let me = Resource::new(
        move || {
            (
                location.pathname.get(),
                log_out.version().get(),
                changed.0.get(),
            )
        },
        |_| signed_in(),
    );
    view! {
        <div class="account-links">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await.ok().flatten() {
                        Some(me) => view! {
                            {me.moderator.then(|| view! {
                                <A href="/moderation" attr:id="moderation-link">"Moderation"</A>
                            })}
                            <A href="/account" attr:id="account-link">
                                {me.alias} " · " {account::format_kudos(me.kudos)} " kudos"
                            </A>
                            <ActionForm action=log_out attr:class="inline">
                                <button type="submit" class="link-button" id="log-out">"Log out"</button>
                            </ActionForm>
                        }.into_any(),
                        None => {
                            let register = (!private.get().await).then(|| view! {
                                <A href="/register" attr:class="button small">"Register"</A>
                            });
                            view! {
                                <A href="/login" attr:id="log-in-link">"Log in"</A>
                                {register}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </div>
    }
}

/// What every visitor should know about privacy, on every page.
#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <p>
                "Potluck is free software (AGPL-3.0-or-later). Without an account this site sets no \
                 cookie, runs no analytics and loads nothing from third parties. "
                <A href="/privacy">"Privacy"</A> " · "
                <a href="/api/swagger.json" rel="external">"API"</a>
            </p>
        </footer>
    }
}

/// A labelled figure in a `<dl class="stats">`.
#[component]
pub fn Stat(
    label: &'static str,
    value: String,
    #[prop(optional)] id: Option<&'static str>,
) -> impl IntoView {
    view! {
        <div class="stat">
            <dt>{label}</dt>
            <dd id=id>{value}</dd>
        </div>
    }
}

/// A table in a box that scrolls sideways on small screens. `columns` are the headings, each
/// with whether its column holds numbers (right-aligned); `children` are the body's rows.
#[component]
pub fn Table(
    columns: &'static [(&'static str, bool)],
    #[prop(optional)] id: Option<&'static str>,
    #[prop(optional)] caption: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let headings = columns
        .iter()
        .map(|(heading, numeric)| view! { <th scope="col" class:num=*numeric>{*heading}</th> })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table id=id>
                {caption.map(|caption| view! { <caption>{caption}</caption> })}
                <thead><tr>{headings}</tr></thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}

/// What a page shows of a resource: `loading` until it is there, then `show` of its value, or
/// the error. A `Transition`, so a refresh keeps the last value on screen until the new one.
pub fn loaded<T, V>(
    resource: Resource<Result<T, FormError>>,
    loading: &'static str,
    show: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
{
    view! {
        <Transition fallback=move || view! { <p>{loading}</p> }>
            {move || {
                let show = show.clone();
                Suspend::new(async move {
                    match resource.await {
                        Ok(value) => show(value).into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// The page for any path that is not a route, served with status 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="page">
            <h1>"Not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Back to the home page"</a></p>
        </section>
    }
}
