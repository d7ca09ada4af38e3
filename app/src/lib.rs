//! Potluck's web UI: the HTML shell, the routes and their pages.
//!
//! The same crate is compiled twice: with `ssr` into the server, which renders every page to HTML
//! (so it works without JavaScript), and with `hydrate` into the wasm bundle (`frontend/`), which
//! takes over that HTML in the browser and keeps the live figures fresh.

pub mod clock;
pub mod figures;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The whole HTML document, rendered on the server around [`App`].
///
/// `hydrate` is false when the wasm bundle has not been built: the page then ships without
/// script tags, so the browser does not ask for files that are not there.
pub fn shell(options: LeptosOptions, hydrate: bool) -> impl IntoView {
    let css = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="stylesheet" href=css />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                {hydrate.then(|| view! { <HydrationScripts options /> })}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: routes and the layout shared by every page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "Potluck".to_string() } else { format!("{page} · Potluck") }
        } />
        <Router>
            <pages::Header />
            <main id="main">
                <Routes fallback=pages::NotFound>
                    // Async: the figures are in the HTML itself, so the page works without
                    // JavaScript (out-of-order streaming would need a script to show them).
                    <Route path=path!("") view=pages::HomePage ssr=SsrMode::Async />
                    <Route path=path!("/generate/text") view=pages::GenerateText />
                    <Route path=path!("/generate/image") view=pages::GenerateImage />
                    <Route path=path!("/contribute") view=pages::Contribute />
                </Routes>
            </main>
            <pages::Footer />
        </Router>
    }
}
