//! OpenID Connect: discovery, the authorization URL (scope `openid` alone), and the ID token's
//! check (signature against the provider's published keys, issuer, audience, expiry, nonce).

use super::provider::{Authorization, Callback, LoginError, ProviderConfig};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::reqwest::Client as HttpClient;
use openidconnect::{
    AuthorizationCode, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, TokenResponse,
};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long discovered metadata (endpoints and signing keys) is reused; a provider that
/// rotates its keys is followed within this.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// A client made from discovered metadata: the authorization endpoint is known, the token and
/// userinfo endpoints may be (the token exchange checks).
pub type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A provider's metadata, discovered on first use (so that a provider that is down keeps
/// nobody from using the rest of the server) and again after [`METADATA_TTL`].
#[derive(Default)]
pub struct Discovered(Mutex<Option<(Instant, CoreProviderMetadata)>>);

impl Discovered {
    pub async fn client(
        &self,
        config: &ProviderConfig,
        issuer: &IssuerUrl,
        http: &HttpClient,
    ) -> Result<DiscoveredClient, LoginError> {
        let metadata = self.metadata(issuer, http).await?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            config.client_id.clone(),
            config.client_secret.clone(),
        ))
    }

    async fn metadata(
        &self,
        issuer: &IssuerUrl,
        http: &HttpClient,
    ) -> Result<CoreProviderMetadata, LoginError> {
        let mut discovered = self.0.lock().await;
        if let Some((at, metadata)) = discovered.as_ref() {
            if at.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), http)
            .await
            .map_err(|e| LoginError::provider(&e))?;
        *discovered = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// The authorization URL, asking for the `openid` scope alone (no profile, no e-mail: nothing
/// of them would be kept anyway).
pub fn authorize(client: &DiscoveredClient) -> Authorization {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    Authorization {
        url,
        state: state.into_secret(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.into_secret(),
    }
}

/// Redeems the code (with the PKCE verifier), checks the ID token against the provider's keys
/// and the sign-in's nonce, and returns its subject.
pub async fn subject(
    client: &DiscoveredClient,
    http: &HttpClient,
    callback: Callback,
) -> Result<String, LoginError> {
    let request = client
        .exchange_code(AuthorizationCode::new(callback.code))
        .map_err(|e| LoginError::provider(&e))?;
    let tokens = request
        .set_pkce_verifier(PkceCodeVerifier::new(callback.pkce_verifier))
        .request_async(http)
        .await
        .map_err(|e| LoginError::provider(&e))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| LoginError::InvalidToken("no ID token in the answer".into()))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(callback.nonce))
        .map_err(|e| LoginError::InvalidToken(e.to_string()))?;
    Ok(claims.subject().as_str().to_string())
}
