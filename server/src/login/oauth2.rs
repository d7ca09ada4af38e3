//! Plain OAuth2 providers, which have no ID token: GitHub, Discord, or any provider with a user
//! endpoint. The access token is used once, to read the user's id from that endpoint, and then
//! dropped; of the endpoint's answer only the id is read.

use super::provider::{Authorization, Callback, LoginError, ProviderConfig};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use openidconnect::reqwest::Client as HttpClient;
use openidconnect::url::Url;
use serde_json::Value;

/// Where a plain OAuth2 provider signs in, and where it tells who signed in.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub authorize: AuthUrl,
    pub token: TokenUrl,
    /// Answers, for an access token, a JSON object with the user's id.
    pub user: Url,
    /// The field of that object that holds the id (a string or a number).
    pub id_field: String,
    /// The least the provider needs to answer the user endpoint.
    pub scopes: Vec<String>,
}

/// The providers known by name: their endpoints, the field of their user's id, and their label.
pub fn preset(name: &str) -> Option<(Endpoints, &'static str)> {
    let endpoints = |authorize: &str, token: &str, user: &str, scopes: &[&str]| Endpoints {
        authorize: AuthUrl::new(authorize.into()).expect("a valid preset URL"),
        token: TokenUrl::new(token.into()).expect("a valid preset URL"),
        user: Url::parse(user).expect("a valid preset URL"),
        id_field: "id".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    };
    match name {
        // No scope: the public profile, whose `id` is all that is read.
        "github" => Some((
            endpoints(
                "https://github.com/login/oauth/authorize",
                "https://github.com/login/oauth/access_token",
                "https://api.github.com/user",
                &[],
            ),
            "GitHub",
        )),
        "discord" => Some((
            endpoints(
                "https://discord.com/oauth2/authorize",
                "https://discord.com/api/oauth2/token",
                "https://discord.com/api/users/@me",
                &["identify"],
            ),
            "Discord",
        )),
        _ => None,
    }
}

pub fn authorize(
    config: &ProviderConfig,
    endpoints: &Endpoints,
    redirect: RedirectUrl,
) -> Authorization {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client(config, endpoints, redirect)
        .authorize_url(CsrfToken::new_random)
        .add_scopes(endpoints.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    Authorization {
        url,
        state: state.into_secret(),
        nonce: String::new(),
        pkce_verifier: verifier.into_secret(),
    }
}

/// Redeems the code for an access token, and reads the user's id with it.
pub async fn subject(
    config: &ProviderConfig,
    endpoints: &Endpoints,
    redirect: RedirectUrl,
    http: &HttpClient,
    callback: Callback,
) -> Result<String, LoginError> {
    let tokens = client(config, endpoints, redirect)
        .exchange_code(AuthorizationCode::new(callback.code))
        .set_pkce_verifier(PkceCodeVerifier::new(callback.pkce_verifier))
        .request_async(http)
        .await
        .map_err(|e| LoginError::provider(&e))?;
    let answer = http
        .get(endpoints.user.clone())
        .bearer_auth(tokens.access_token().secret())
        .header("accept", "application/json")
        // GitHub's API refuses requests without one.
        .header("user-agent", "potluck")
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| LoginError::provider(&e))?
        .bytes()
        .await
        .map_err(|e| LoginError::provider(&e))?;
    let user: Value = serde_json::from_slice(&answer).map_err(|e| LoginError::provider(&e))?;
    match user.get(&endpoints.id_field) {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(LoginError::InvalidToken(format!(
            "the user endpoint's answer has no {:?}",
            endpoints.id_field
        ))),
    }
}

fn client(
    config: &ProviderConfig,
    endpoints: &Endpoints,
    redirect: RedirectUrl,
) -> BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    let client = BasicClient::new(config.client_id.clone())
        .set_auth_uri(endpoints.authorize.clone())
        .set_token_uri(endpoints.token.clone())
        .set_redirect_uri(redirect);
    match &config.client_secret {
        Some(secret) => client.set_client_secret(secret.clone()),
        None => client,
    }
}
