//! One OpenID Connect provider: its configuration, its discovered metadata, and the two legs of
//! the flow (the authorization URL out, the code exchange and the ID token's check back).

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::reqwest::Client as HttpClient;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long discovered metadata (endpoints and signing keys) is reused; a provider that
/// rotates its keys is followed within this.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// A client made from discovered metadata: the authorization endpoint is known, the token and
/// userinfo endpoints may be (the token exchange checks).
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A provider as the operator configured it.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The name in its URLs (`/auth/{id}/login`) and in the accounts linked to it.
    pub id: String,
    /// What the sign-in button says: "Sign in with {label}".
    pub label: String,
    pub issuer: IssuerUrl,
    pub client_id: ClientId,
    pub client_secret: Option<ClientSecret>,
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
}

/// Where a sign-in sends the browser, and what must come back with it.
pub struct Authorization {
    pub url: openidconnect::url::Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

pub struct Provider {
    config: ProviderConfig,
    discovered: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Self {
        Provider {
            config,
            discovered: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The first leg: the provider's authorization URL, asking for the `openid` scope alone
    /// (no profile, no e-mail: nothing of them would be kept anyway).
    pub async fn authorize(
        &self,
        http: &HttpClient,
        redirect: RedirectUrl,
    ) -> Result<Authorization, LoginError> {
        let client = self.client(http, redirect).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url,
            state: state.into_secret(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.into_secret(),
        })
    }

    /// The second leg: redeems the code (with the PKCE verifier), checks the ID token against
    /// the provider's keys and the sign-in's nonce, and returns its subject.
    pub async fn subject(
        &self,
        http: &HttpClient,
        redirect: RedirectUrl,
        code: String,
        pkce_verifier: String,
        nonce: String,
    ) -> Result<String, LoginError> {
        let client = self.client(http, redirect).await?;
        let request = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| LoginError::Provider(e.to_string()))?;
        let tokens = request
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(http)
            .await
            .map_err(|e| LoginError::Provider(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| LoginError::InvalidToken("no ID token in the answer".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(nonce))
            .map_err(|e| LoginError::InvalidToken(e.to_string()))?;
        Ok(claims.subject().as_str().to_string())
    }

    async fn client(
        &self,
        http: &HttpClient,
        redirect: RedirectUrl,
    ) -> Result<DiscoveredClient, LoginError> {
        let metadata = self.metadata(http).await?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            self.config.client_id.clone(),
            self.config.client_secret.clone(),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's metadata, discovered on first use and again after [`METADATA_TTL`].
    async fn metadata(&self, http: &HttpClient) -> Result<CoreProviderMetadata, LoginError> {
        let mut discovered = self.discovered.lock().await;
        if let Some((at, metadata)) = discovered.as_ref() {
            if at.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.config.issuer.clone(), http)
            .await
            .map_err(|e| LoginError::Provider(error_chain(&e)))?;
        *discovered = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// An error with its causes, for the log: the outer ones of openidconnect say little alone.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
