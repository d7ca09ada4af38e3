//! Sign-in through login providers: OpenID Connect ones (Google, GitLab, Microsoft, Keycloak,
//! Authentik, any issuer the operator configures) and plain OAuth2 ones with a user endpoint
//! (GitHub, Discord). The flow is the authorization code flow with PKCE and a state bound to the
//! browser by a short-lived cookie; OpenID Connect adds a nonce, and `openidconnect` checks the
//! ID token (signature against the provider's published keys, issuer, audience, expiry, nonce).
//! Only the provider's id for the user is used, and stored: an account linked to a provider is
//! the pair (provider, subject), nothing of the profile.

mod oauth2;
mod oidc;
mod provider;
mod routes;

pub use oauth2::{preset, Endpoints};
pub use provider::{LoginError, Protocol, Provider, ProviderConfig};
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
        let mut ids: Vec<&str> = configs.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(twice) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            anyhow::bail!("two login providers are named {:?}", twice[0]);
        }
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
