//! The server functions behind the pages, one module per subject. Each goes through the same
//! `Horde` as `/api/v2` (same validation, limits, queue and kudos), so the pages show the API's
//! own error messages, next to the field they name.
//!
//! They are mounted under `/_leptos/` with fixed names: Leptos' default prefix (`/api`) belongs to
//! the AI Horde API, and fixed names stay the same from one build to the next.

pub mod access;
pub mod account;
pub mod cluster;
pub mod contribute;
pub mod image;
pub mod moderation;
pub mod privacy;
pub mod sharing;
pub mod styles;
pub mod text;
pub mod your_data;

use crate::forms::FormError;

/// A number typed into a form field, or an error about that field.
pub fn parse_number<T: std::str::FromStr>(
    api_field: &str,
    label: &str,
    typed: &str,
) -> Result<T, FormError> {
    typed
        .trim()
        .parse()
        .map_err(|_| FormError::new(Some(api_field), format!("{label} must be a number")))
}

/// The model chooser's value as the API's `models`: none chosen ("any model") is an empty list.
pub fn chosen_models(chosen: &str) -> Vec<String> {
    let chosen = chosen.trim();
    match chosen.is_empty() {
        true => Vec::new(),
        false => vec![chosen.to_string()],
    }
}
