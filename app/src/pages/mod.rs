//! The pages, and the header and footer around them.

mod home;
mod planned;

pub use home::HomePage;
pub use planned::{Contribute, GenerateImage, GenerateText};

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The site name and the main navigation, on every page.
#[component]
pub fn Header() -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <a class="brand" href="/">"Potluck"</a>
            <nav aria-label="Main">
                <ul>
                    <li><A href="/generate/text">"Generate text"</A></li>
                    <li><A href="/generate/image">"Generate images"</A></li>
                    <li><A href="/contribute">"Contribute"</A></li>
                    // A plain link: the API document is not a page of this app.
                    <li><a href="/api/swagger.json" rel="external">"API docs"</a></li>
                </ul>
            </nav>
        </header>
    }
}

/// What every visitor should know about privacy, on every page.
#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <p>
                "Potluck is free software (AGPL-3.0-or-later). This site sets no cookies, runs no \
                 analytics and loads nothing from third parties."
            </p>
        </footer>
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
