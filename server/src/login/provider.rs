//! A login provider: how the operator configured it, and the two legs of its flow (the
//! authorization URL out; the code exchange and the user's id back), which depend on whether
//! it speaks OpenID Connect (`oidc.rs`) or plain OAuth2 with a user endpoint (`oauth2.rs`).

use super::{oauth2, oidc};
use openidconnect::reqwest::Client as HttpClient;
use openidconnect::{ClientId, ClientSecret, RedirectUrl};

/// A provider as the operator configured it.
pub struct ProviderConfig {
    /// The name in its URLs (`/auth/{id}/login`) and in the accounts linked to it.
    pub id: String,
    /// What the sign-in button says: "Sign in with {label}".
    pub label: String,
    pub client_id: ClientId,
    pub client_secret: Option<ClientSecret>,
    pub protocol: Protocol,
}

pub enum Protocol {
    OpenIdConnect(openidconnect::IssuerUrl),
    // Boxed: three URLs make it much larger than an issuer's one.
    OAuth2(Box<oauth2::Endpoints>),
}

/// Why a sign-in did not succeed. The browser is told in words (`LoginError::code` names the
/// case in its address); the details go to the log, never the code, tokens or claims.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("no such login provider")]
    UnknownProvider,
    #[error("the sign-in expired or was started in another browser")]
    Expired,
    #[error("the provider did not sign you in: {0}")]
    Refused(String),
    #[error("the provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the provider's ID token did not check out: {0}")]
    InvalidToken(String),
    #[error(transparent)]
    Core(#[from] potluck_core::CoreError),
    #[error("the session store failed: {0}")]
    Session(#[from] tower_sessions::session::Error),
}

impl LoginError {
    /// The case, as the sign-in page names it in its address (`/login?login_failed=CODE`).
    pub fn code(&self) -> &'static str {
        match self {
            LoginError::UnknownProvider => "unknown-provider",
            LoginError::Expired => "expired",
            LoginError::Refused(_) => "refused",
            LoginError::Provider(_) | LoginError::InvalidToken(_) => "provider",
            LoginError::Core(potluck_core::CoreError::Rejected(_)) => "refused",
            LoginError::Core(_) | LoginError::Session(_) => "server",
        }
    }

    /// A provider's error, with its causes: the outer ones of openidconnect and oauth2 say
    /// little alone.
    pub fn provider(error: &dyn std::error::Error) -> LoginError {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        LoginError::Provider(text)
    }
}

/// Where a sign-in sends the browser, and what must come back with it.
pub struct Authorization {
    pub url: openidconnect::url::Url,
    pub state: String,
    /// What the ID token must carry (empty for plain OAuth2, which has none).
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What the second leg needs: the code the provider sent back, and what the first leg kept.
pub struct Callback {
    pub code: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

pub struct Provider {
    config: ProviderConfig,
    discovered: oidc::Discovered,
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Self {
        Provider {
            config,
            discovered: oidc::Discovered::default(),
        }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The first leg: the provider's authorization URL, with PKCE (S256) and a random state.
    pub async fn authorize(
        &self,
        http: &HttpClient,
        redirect: RedirectUrl,
    ) -> Result<Authorization, LoginError> {
        match &self.config.protocol {
            Protocol::OpenIdConnect(issuer) => {
                let client = self.discovered.client(&self.config, issuer, http).await?;
                Ok(oidc::authorize(&client.set_redirect_uri(redirect)))
            }
            Protocol::OAuth2(endpoints) => Ok(oauth2::authorize(&self.config, endpoints, redirect)),
        }
    }

    /// The second leg: redeems the code and returns the provider's id for the user.
    pub async fn subject(
        &self,
        http: &HttpClient,
        redirect: RedirectUrl,
        callback: Callback,
    ) -> Result<String, LoginError> {
        match &self.config.protocol {
            Protocol::OpenIdConnect(issuer) => {
                let client = self.discovered.client(&self.config, issuer, http).await?;
                oidc::subject(&client.set_redirect_uri(redirect), http, callback).await
            }
            Protocol::OAuth2(endpoints) => {
                oauth2::subject(&self.config, endpoints, redirect, http, callback).await
            }
        }
    }
}
