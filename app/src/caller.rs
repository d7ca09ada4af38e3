//! What the UI's server functions know about the request they answer: the `Horde`, the browser's
//! session (if it signed in), and a keyed hash of its address for the anonymous limits.
//!
//! The session keeps the hash of the account's API key, never the key: the key is shown once
//! at registration and typed at sign-in, and lives nowhere else. A replaced key ends every
//! session that used it.

use std::sync::Arc;

use http::request::Parts;
use http::StatusCode;
use leptos::prelude::*;
use potluck_core::{Account, CoreError, Horde, Rejection};
use tower_sessions::Session;

use crate::forms::FormError;

/// Hashes the caller's address as the API does (the key and the trusted header are the server's
/// settings), so that the UI's anonymous requests share the API's per-client limits.
#[derive(Clone)]
pub struct ClientIdentity(pub Arc<AddressHasher>);

/// Gives the keyed hash of a request's address, if it has one.
pub type AddressHasher = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// The session entry of a signed-in browser: its account's key hash.
const SIGNED_IN: &str = "key_hash";

/// A server function's view of the request.
pub struct Caller {
    pub horde: Arc<Horde>,
    session: Session,
    parts: Parts,
    identity: ClientIdentity,
}

impl Caller {
    /// The caller of the server function running now.
    pub async fn current() -> Result<Caller, FormError> {
        let horde = server_context::<Arc<Horde>>("horde")?;
        let identity = server_context::<ClientIdentity>("identity")?;
        let parts = server_context::<Parts>("request")?;
        let session = leptos_axum::extract::<Session>()
            .await
            .map_err(|_| missing("session layer"))?;
        Ok(Caller {
            horde,
            session,
            parts,
            identity,
        })
    }

    pub fn client_hash(&self) -> Option<String> {
        (self.identity.0)(&self.parts)
    }

    /// The signed-in account, if the browser signed in and its key still works.
    pub async fn signed_in(&self) -> Result<Option<Account>, FormError> {
        let key_hash: Option<String> = self.session.get(SIGNED_IN).await.map_err(session_error)?;
        let Some(key_hash) = key_hash else {
            return Ok(None);
        };
        let account = self
            .horde
            .account_by_key_hash(&key_hash)
            .await
            .map_err(report)?;
        if account.is_none() {
            // The key was replaced: this session is over.
            self.session.flush().await.map_err(session_error)?;
        }
        Ok(account)
    }

    /// The signed-in account, or the anonymous one.
    pub async fn account(&self) -> Result<Account, FormError> {
        match self.signed_in().await? {
            Some(account) => Ok(account),
            None => self.horde.authenticate(None).await.map_err(report),
        }
    }

    /// The signed-in account, or an error asking to sign in.
    pub async fn require_signed_in(&self) -> Result<Account, FormError> {
        self.signed_in().await?.ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                FormError::new(None, "Log in first: this needs your account"),
            )
        })
    }

    /// Signs the browser in as the owner of `apikey`.
    pub async fn sign_in(&self, apikey: &str) -> Result<Account, FormError> {
        let apikey = apikey.trim();
        if apikey.is_empty() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                FormError::new(Some("apikey"), "Enter your API key"),
            ));
        }
        let account = match self.horde.authenticate(Some(apikey)).await {
            Ok(account) => account,
            // An unknown key: the form shows why next to the key's field.
            Err(CoreError::Rejected(rejection)) => {
                return Err(report(CoreError::Rejected(Rejection {
                    field: Some("apikey"),
                    ..rejection
                })))
            }
            Err(other) => return Err(report(other)),
        };
        if account.is_anonymous() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                FormError::new(
                    Some("apikey"),
                    "That is the anonymous key; register to get a key of your own",
                ),
            ));
        }
        remember_sign_in(&self.session, &potluck_core::keys::hash_key(apikey))
            .await
            .map_err(session_error)?;
        Ok(account)
    }

    /// Signs the browser in again after its account got a new key, which ended its session.
    pub async fn renew_sign_in(&self, apikey: &str) -> Result<(), FormError> {
        remember_sign_in(&self.session, &potluck_core::keys::hash_key(apikey))
            .await
            .map_err(session_error)
    }

    /// Ends the session: its row is deleted and the browser told to drop the cookie.
    pub async fn sign_out(&self) -> Result<(), FormError> {
        self.session.flush().await.map_err(session_error)
    }
}

/// Signs a session in as the account whose key hashes to `key_hash`: with a key typed in, or
/// through a login provider (the server's `/auth/` routes). The session gets a new id, so one
/// fixed before sign-in is useless afterwards; the cookie is set now and not before.
pub async fn remember_sign_in(
    session: &Session,
    key_hash: &str,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(SIGNED_IN, key_hash).await
}

/// What the server provides to every server function (server/src/ui/mod.rs), called `what` in the
/// log if it is missing.
pub fn server_context<T: Clone + 'static>(what: &str) -> Result<T, FormError> {
    use_context::<T>().ok_or_else(|| missing(what))
}

/// A server function that runs without what the server provides: a bug of ours, not the caller's.
fn missing(what: &str) -> FormError {
    tracing::error!(what, "a server function ran without the server's context");
    FormError::new(None, "The server is not set up to answer this page")
}

/// A core error as the form shows it: a refusal with its message and field; anything else is
/// logged and reported without detail.
pub fn report(error: CoreError) -> FormError {
    match error {
        CoreError::Rejected(rejection) => {
            let status = StatusCode::from_u16(rejection.kind.http_status())
                .unwrap_or(StatusCode::BAD_REQUEST);
            refuse(status, FormError::new(rejection.field, rejection.message))
        }
        other => {
            tracing::error!(error = %other, "a page's server function failed");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                FormError::new(
                    None,
                    "Something went wrong on the server; try again in a moment",
                ),
            )
        }
    }
}

/// A form the UI itself found wrong (a number that is not one): a 400, like the API's refusals.
pub fn invalid(error: FormError) -> FormError {
    refuse(StatusCode::BAD_REQUEST, error)
}

fn session_error(error: tower_sessions::session::Error) -> FormError {
    tracing::error!(%error, "the session store failed");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        FormError::new(
            None,
            "Your session could not be read; try again in a moment",
        ),
    )
}

/// Gives the server function's answer the error's status, unless the request is a plain form
/// post: that one must stay a redirect (back to the form, with the error in its address).
fn refuse(status: StatusCode, error: FormError) -> FormError {
    let plain_form_post = use_context::<Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
    });
    if !plain_form_post {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }
    error
}
