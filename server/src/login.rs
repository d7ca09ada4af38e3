//! Sign-in through OpenID Connect providers: Google, GitLab, Microsoft, Keycloak, Authentik, or
//! any issuer the operator configures. The flow is the authorization code flow with PKCE, a
//! nonce, and a state bound to the browser by a short-lived cookie; `openidconnect` checks the ID
//! token (signature against the provider's published keys, issuer, audience, expiry, nonce). Of
//! its claims only the subject is used, and stored: an account linked to a provider is the pair
//! (provider, subject), nothing of the profile.
//!
//! A provider is discovered (`/.well-known/openid-configuration`) when it is first used, not at
//! start, so a provider that is down keeps nobody from using the rest of the server.

mod provider;
mod routes;

pub use provider::{LoginError, Provider, ProviderConfig};
pub use routes::routes;

use app::api::access::LoginOffer;
use std::time::Duration;

/// The providers this server offers, and the client it reaches them with.
pub struct LoginProviders {
    providers: Vec<Provider>,
    http: openidconnect::reqwest::Client,
    /// The server's public URL, for the redirect back; else taken from the request.
    public_url: Option<String>,
}

/// How long a provider's answer to a request may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

impl LoginProviders {
    pub fn new(configs: Vec<ProviderConfig>, public_url: Option<String>) -> anyhow::Result<Self> {
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects would let a provider's answer send our requests anywhere
            // (openidconnect's advice).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()?;
        Ok(LoginProviders {
            providers: configs.into_iter().map(Provider::new).collect(),
            http,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_string()),
        })
    }

    /// What the sign-in page offers.
    pub fn offers(&self) -> Vec<LoginOffer> {
        self.providers
            .iter()
            .map(|p| LoginOffer {
                id: p.config().id.clone(),
                label: p.config().label.clone(),
            })
            .collect()
    }

    fn provider(&self, id: &str) -> Result<&Provider, LoginError> {
        self.providers
            .iter()
            .find(|p| p.config().id == id)
            .ok_or(LoginError::UnknownProvider)
    }
}
