//! The Contribute page's side of the browser worker: the account it earns for, kept in this
//! browser, and (in `browser`) the WebGPU check and the Web Worker that runs the engine.
//!
//! The key lives in `localStorage`, never in a cookie: the Web Worker needs the key itself to
//! talk to `/api/v2` as any worker does, and the server's session keeps only its hash.

#[cfg(feature = "hydrate")]
mod browser;
#[cfg(feature = "hydrate")]
pub use browser::*;

use serde::{Deserialize, Serialize};

/// The account this browser contributes for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedAccount {
    pub alias: String,
    pub apikey: String,
}

/// Makes a pseudonymous account (which also signs this browser in) and keeps its key here.
pub async fn register_contributor() -> Result<SavedAccount, String> {
    #[cfg(feature = "hydrate")]
    {
        let name = format!("volunteer-{}", random_suffix());
        let made = crate::api::account::register(name)
            .await
            .map_err(|e| e.message)?;
        let account = SavedAccount {
            alias: made.alias,
            apikey: made.apikey,
        };
        save_account(&account)?;
        Ok(account)
    }
    #[cfg(not(feature = "hydrate"))]
    Err(ONLY_IN_THE_BROWSER.into())
}

/// Keeps a key the visitor has, once the server has said whose it is.
pub async fn use_contributor_key(apikey: String) -> Result<SavedAccount, String> {
    #[cfg(feature = "hydrate")]
    {
        let apikey = apikey.trim().to_string();
        let alias = account_of(&apikey).await?;
        let account = SavedAccount { alias, apikey };
        save_account(&account)?;
        Ok(account)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = apikey;
        Err(ONLY_IN_THE_BROWSER.into())
    }
}

#[cfg(not(feature = "hydrate"))]
const ONLY_IN_THE_BROWSER: &str = "this runs in the browser";
