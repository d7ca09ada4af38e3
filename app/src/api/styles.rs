//! The public styles a generation form offers. A style brings its own prompt template, model
//! and settings (`/api/v2/styles/*`); the request names it in `style`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::caller::{report, Caller};
use crate::forms::FormError;

/// A style as the chooser lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StyleChoice {
    pub id: String,
    pub name: String,
    pub info: Option<String>,
}

/// The most used public styles for `kind` (`text` or `image`): the API's first page.
#[server(prefix = "/_leptos", endpoint = "styles")]
pub async fn styles(kind: String) -> Result<Vec<StyleChoice>, FormError> {
    let caller = Caller::current().await?;
    let kind = match kind.as_str() {
        "text" => potluck_core::StyleKind::Text,
        _ => potluck_core::StyleKind::Image,
    };
    let styles = caller
        .horde
        .list_styles(kind, "popular", 1, None, None)
        .await
        .map_err(report)?;
    Ok(styles
        .into_iter()
        .map(|style| StyleChoice {
            id: style.id,
            name: style.name,
            info: style.info,
        })
        .collect())
}

/// The chooser's value as the API's `style`: none chosen is no style.
pub fn chosen_style(chosen: &str) -> Option<String> {
    Some(chosen.trim().to_string()).filter(|style| !style.is_empty())
}
