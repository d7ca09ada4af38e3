//! The two legs of a sign-in through a provider, as routes of the web UI (they need its
//! sessions): `/auth/{provider}/login` sends the browser to the provider, and
//! `/auth/{provider}/callback` is where the provider sends it back.
//!
//! The sign-in's state travels in the provider's redirect and in a cookie of its own
//! (`SameSite=Lax`, so the provider's redirect back carries it; `HttpOnly`; ten minutes; only
//! under `/auth/`): a callback whose state is not the browser's own is refused, so nobody can
//! sign a browser in as someone else (login CSRF). That cookie exists only once the visitor
//! chose to sign in; anonymous visitors get none.

use super::provider::{Callback, LoginError};
use super::LoginProviders;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use openidconnect::RedirectUrl;
use potluck_core::store::Login;
use potluck_core::{Horde, PENDING_LOGIN_LIFETIME};
use serde::Deserialize;
use std::sync::Arc;
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::Session;

const STATE_COOKIE: &str = "potluck_login";

#[derive(Clone)]
struct LoginState {
    horde: Arc<Horde>,
    login: Arc<LoginProviders>,
    /// Whether cookies are `Secure` (the server is reached over TLS).
    secure_cookie: bool,
}

/// The routes, to be merged into the UI's router inside its session layer.
pub fn routes(horde: Arc<Horde>, login: Arc<LoginProviders>, secure_cookie: bool) -> Router {
    Router::new()
        .route("/auth/{provider}/login", get(begin))
        .route("/auth/{provider}/callback", get(finish))
        .with_state(LoginState {
            horde,
            login,
            secure_cookie,
        })
}

/// What a provider sends back: a code and the state, or an error (the user said no).
#[derive(Deserialize)]
struct Returned {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn begin(
    State(s): State<LoginState>,
    Path(provider_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let begun = async {
        let provider = s.login.provider(&provider_id)?;
        let redirect = redirect_url(&s.login, &headers, &provider_id)?;
        let authorization = provider.authorize(&s.login.http, redirect).await?;
        s.horde
            .begin_login(
                &provider_id,
                &authorization.state,
                &authorization.nonce,
                &authorization.pkce_verifier,
            )
            .await?;
        Ok::<_, LoginError>(authorization)
    };
    match begun.await {
        Ok(authorization) => {
            let cookie = state_cookie(
                &authorization.state,
                PENDING_LOGIN_LIFETIME.as_secs(),
                s.secure_cookie,
            );
            let mut response = Redirect::to(authorization.url.as_str()).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(error) => failed(&provider_id, error, s.secure_cookie),
    }
}

async fn finish(
    State(s): State<LoginState>,
    Path(provider_id): Path<String>,
    returned: Result<Query<Returned>, QueryRejection>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let finished = async {
        let provider = s.login.provider(&provider_id)?;
        // A query we cannot read (a repeated field) did not come from the provider's redirect.
        let Ok(Query(returned)) = returned else {
            return Err(LoginError::Expired);
        };
        if let Some(error) = returned.error {
            return Err(LoginError::Refused(error));
        }
        let (Some(code), Some(state)) = (returned.code, returned.state) else {
            return Err(LoginError::Expired);
        };
        if cookie_state(&headers).as_deref() != Some(state.as_str()) {
            return Err(LoginError::Expired);
        }
        let pending = s
            .horde
            .resume_login(&state)
            .await?
            .filter(|p| p.provider == provider_id)
            .ok_or(LoginError::Expired)?;
        let redirect = redirect_url(&s.login, &headers, &provider_id)?;
        let callback = Callback {
            code,
            pkce_verifier: pending.pkce_verifier,
            nonce: pending.nonce,
        };
        let subject = provider.subject(&s.login.http, redirect, callback).await?;
        let login = Login {
            provider: provider_id.clone(),
            subject,
        };
        let name = format!("{} user", provider.config().label);
        let signed_in = s.horde.sign_in_linked(login, &name).await?;
        app::caller::remember_sign_in(&session, &signed_in.key_hash).await?;
        Ok(signed_in.created)
    };
    match finished.await {
        Ok(created) => {
            let to = match created {
                true => "/account?welcome",
                false => "/account",
            };
            let mut response = continue_to(to).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, state_cookie("", 0, s.secure_cookie));
            response
        }
        Err(error) => failed(&provider_id, error, s.secure_cookie),
    }
}

/// Sends the browser on from a page of ours rather than with a redirect: the provider started
/// this navigation, and a browser sends the `SameSite=Strict` session cookie, just set, only on
/// a navigation that this site started.
fn continue_to(to: &'static str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Signed in</title></head>\
         <body><p>Signed in. <a href=\"{to}\">Continue</a></p></body></html>"
    ))
}

/// The sign-in page again, saying what went wrong; the details go to the log.
fn failed(provider: &str, error: LoginError, secure_cookie: bool) -> Response {
    match &error {
        LoginError::Core(_) | LoginError::Session(_) => {
            tracing::error!(provider, %error, "sign-in through a provider failed")
        }
        _ => tracing::warn!(provider, %error, "sign-in through a provider failed"),
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            format!("/login?login_failed={}", error.code()),
        )],
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state_cookie("", 0, secure_cookie));
    response
}

/// `{public URL}/auth/{provider}/callback`, which the operator registers with the provider.
fn redirect_url(
    login: &LoginProviders,
    headers: &HeaderMap,
    provider: &str,
) -> Result<RedirectUrl, LoginError> {
    let base = crate::api::public_base(login.public_url.as_deref(), headers);
    RedirectUrl::new(format!("{base}/auth/{provider}/callback"))
        .map_err(|e| LoginError::Provider(format!("the redirect URL is not valid: {e}")))
}

fn state_cookie(state: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((STATE_COOKIE, state))
        .path("/auth/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(Duration::seconds(max_age_secs as i64))
        .build();
    // A random state in URL-safe characters always makes a valid header.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The state this browser's cookie holds, if any.
fn cookie_state(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == STATE_COOKIE)
        .map(|cookie| cookie.value().to_string())
}
