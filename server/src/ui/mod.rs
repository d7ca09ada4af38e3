//! The web UI: the Leptos pages rendered on the server, their server functions, and the static
//! site (the wasm bundle that hydrates the pages, the stylesheet, the favicon).
//!
//! The site root is what `scripts/build-frontend.sh` writes (`target/site` by default). Without
//! its `pkg/` the pages are still rendered on the server, just not hydrated.

mod cross_site;
mod sessions;

pub use sessions::SessionDatabase;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::login::LoginProviders;
use app::api::access::LoginOffers;
use app::api::contribute::BrowserModel;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use potluck_core::Horde;

/// What the UI needs from the server besides the `Horde`.
pub struct UiSettings {
    pub site_root: PathBuf,
    /// Hashes a request's address as the API does.
    pub identity: app::caller::ClientIdentity,
    pub sessions: SessionDatabase,
    /// Whether the server is reached over TLS (its public URL is https), so cookies are `Secure`.
    pub secure_cookie: bool,
    /// The model the Contribute page offers to browsers, if the server has one.
    pub browser_model: Option<BrowserModel>,
    /// The OpenID Connect providers one can sign in with.
    pub login: Arc<LoginProviders>,
}

/// The base name of the files wasm-bindgen writes (`pkg/potluck.js`, `pkg/potluck_bg.wasm`) and
/// of the stylesheet (`pkg/potluck.css`); the build script uses the same.
const OUTPUT_NAME: &str = "potluck";
const PKG_DIR: &str = "pkg";

/// The UI's routes: every page of the app, the server functions under `/_leptos/`, and, as the
/// fallback, the files of `site_root` or a 404 page. Merge it into the main router, which must
/// then have no other top-level fallback (axum refuses to merge two). Paths under `/api/` that the
/// API router does not serve get a JSON 404 from here, never a page. The UI's routes have
/// sessions and refuse cross-site form posts; the API's do not need either (they take keys in
/// headers, not cookies).
pub fn routes(horde: Arc<Horde>, settings: UiSettings) -> anyhow::Result<Router> {
    let UiSettings {
        site_root,
        identity,
        sessions,
        secure_cookie,
        browser_model,
        login,
    } = settings;
    let login_offers = LoginOffers(login.offers());
    let login_routes = crate::login::routes(horde.clone(), login, secure_cookie);
    let hydrate = frontend_built(&site_root);
    if !hydrate {
        tracing::warn!(
            site_root = %site_root.display(),
            "the web UI's wasm bundle is missing; pages are served without hydration \
             (build it with scripts/build-frontend.sh)"
        );
    }

    // Built here, not read from cargo-leptos' environment variables: we do not use cargo-leptos.
    let options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir(PKG_DIR)
        .build();

    // Server functions and page rendering both find these in the reactive context.
    let context = move || {
        provide_context(horde.clone());
        provide_context(identity.clone());
        provide_context(browser_model.clone());
        provide_context(login_offers.clone());
    };
    let shell = {
        let options = options.clone();
        move || app::shell(options.clone(), hydrate)
    };
    let files_or_not_found = file_and_error_handler_with_context(context.clone(), move |options| {
        app::shell(options, hydrate)
    });

    let router = Router::new()
        .leptos_routes_with_context(&options, generate_route_list(app::App), context, shell)
        .fallback(
            move |uri: Uri, state: State<LeptosOptions>, req: Request<Body>| async move {
                // An unknown API path gets the API's error body, not an HTML page or a file.
                if is_api_path(uri.path()) {
                    return api_not_found().into_response();
                }
                files_or_not_found(uri, state, req).await
            },
        )
        .with_state(options)
        .merge(login_routes)
        .layer(axum::middleware::from_fn(cross_site::refuse_cross_site));
    sessions::with_sessions(router, sessions, secure_cookie)
}

/// Whether `scripts/build-frontend.sh` has put the hydration bundle into the site root.
fn frontend_built(site_root: &Path) -> bool {
    let pkg = site_root.join(PKG_DIR);
    pkg.join(format!("{OUTPUT_NAME}.js")).is_file()
        && pkg.join(format!("{OUTPUT_NAME}_bg.wasm")).is_file()
}

/// The same answer as the API router's own fallback under `/api/v2`.
fn api_not_found() -> impl IntoResponse {
    let body = protocol::RequestError {
        message: "No such API endpoint".to_string(),
        rc: "NotFound".to_string(),
        errors: None,
    };
    (StatusCode::NOT_FOUND, Json(body))
}

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_left_to_the_api() {
        assert!(is_api_path("/api"));
        assert!(is_api_path("/api/v2/status/heartbeat"));
        assert!(!is_api_path("/apiary"));
        assert!(!is_api_path("/"));
    }

    #[test]
    fn frontend_is_detected_by_its_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!frontend_built(dir.path()));
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/potluck.js"), "").unwrap();
        assert!(!frontend_built(dir.path()));
        std::fs::write(dir.path().join("pkg/potluck_bg.wasm"), "").unwrap();
        assert!(frontend_built(dir.path()));
    }
}
