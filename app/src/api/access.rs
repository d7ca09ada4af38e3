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

/// A login provider the sign-in page offers: its button goes to `/auth/{id}/login`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoginOffer {
    pub id: String,
    /// "Sign in with {label}".
    pub label: String,
}

/// The login providers the server is configured with (its `--oidc-provider` flags).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoginOffers(pub Vec<LoginOffer>);

#[server(prefix = "/_leptos", endpoint = "login_providers")]
pub async fn login_providers() -> Result<Vec<LoginOffer>, FormError> {
    Ok(crate::caller::server_context::<LoginOffers>("login providers")?.0)
}
