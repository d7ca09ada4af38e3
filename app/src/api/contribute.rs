//! What the Contribute page needs from the server: the model it offers to browsers.

use leptos::prelude::*;

/// Shared with the browser worker, which downloads the file and serves jobs under its name.
pub use protocol::contribute::BrowserModel;

#[cfg(feature = "ssr")]
use crate::caller::server_context;
use crate::forms::FormError;

/// The model this server offers to browsers (its `--browser-model`), or `None` if it offers none.
// The macro would name the function's argument struct `BrowserModel`, which is taken.
#[server(name = GetBrowserModel, prefix = "/_leptos", endpoint = "browser_model")]
pub async fn browser_model() -> Result<Option<BrowserModel>, FormError> {
    server_context::<Option<BrowserModel>>("browser model")
}
