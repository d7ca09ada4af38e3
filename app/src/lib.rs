//! Potluck's web UI: the HTML shell, the routes and their pages.
//!
//! The same crate is compiled twice: with `ssr` into the server, which renders every page to HTML
//! (so it works without JavaScript), and with `hydrate` into the wasm bundle (`frontend/`), which
//! takes over that HTML in the browser and keeps the live figures fresh.

pub mod api;
#[cfg(feature = "ssr")]
pub mod caller;
pub use protocol::clock;
mod contributor;
#[cfg(feature = "ssr")]
pub mod document;
pub mod figures;
pub mod forms;
mod live;
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
    #[cfg(feature = "ssr")]
    security_headers();
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

/// Headers that let the browser enforce what the pages promise: nothing is loaded from another
/// site (scripts only our own and the inline ones carrying this response's nonce; wasm allowed
/// to compile), no page of ours in another site's frame, no referrer sent elsewhere.
#[cfg(feature = "ssr")]
fn security_headers() {
    use http::header::HeaderValue;
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce()
        .map(|nonce| format!(" 'nonce-{nonce}'"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    let headers = [
        (http::header::CONTENT_SECURITY_POLICY, policy),
        (http::header::REFERRER_POLICY, "same-origin".to_string()),
        (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
    ];
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.insert_header(name, value);
        }
    }
}

/// The application: routes and the layout shared by every page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_context(pages::SessionChanged::default());
    provide_context(pages::PrivateServer::load());
    let hydrated = live::hydrated();
    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "Potluck".to_string() } else { format!("{page} · Potluck") }
        } />
        <Router>
            <div class="app" data-hydrated=move || hydrated.get().to_string()>
                <pages::Header />
                <main id="main">
                    <pages::PrivateBanner />
                    // Async everywhere: each page's data is in the HTML itself, so the pages work
                    // without JavaScript (out-of-order streaming would need a script to show it).
                    <Routes fallback=pages::NotFound>
                        <Route path=path!("") view=pages::HomePage ssr=SsrMode::Async />
                        <Route path=path!("/generate/text") view=pages::GenerateText ssr=SsrMode::Async />
                        <Route path=path!("/generate/image") view=pages::GenerateImage ssr=SsrMode::Async />
                        <Route path=path!("/models") view=pages::ModelsPage ssr=SsrMode::Async />
                        <Route path=path!("/workers") view=pages::WorkersPage ssr=SsrMode::Async />
                        <Route path=path!("/status") view=pages::StatusPage ssr=SsrMode::Async />
                        <Route path=path!("/register") view=pages::RegisterPage ssr=SsrMode::Async />
                        <Route path=path!("/login") view=pages::LoginPage ssr=SsrMode::Async />
                        <Route path=path!("/account") view=pages::AccountPage ssr=SsrMode::Async />
                        <Route path=path!("/privacy") view=pages::PrivacyPage ssr=SsrMode::Async />
                        <Route path=path!("/contribute") view=pages::Contribute ssr=SsrMode::Async />
                        <Route path=path!("/moderation") view=pages::ModerationPage ssr=SsrMode::Async />
                    </Routes>
                </main>
                <pages::Footer />
            </div>
        </Router>
    }
}
