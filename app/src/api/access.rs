//! Who may use this server: anyone, anonymously too, or, on a private server, only the accounts
//! its operator issued.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::caller::Caller;
use crate::forms::FormError;

/// Whether the operator started this server with `--private`.
#[server(prefix = "/_leptos", endpoint = "private_server")]
pub async fn private_server() -> Result<bool, FormError> {
    let caller = Caller::current().await?;
    Ok(caller.horde.policy().private)
}
