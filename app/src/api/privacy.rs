//! The figures the privacy page states, read from the server's own settings so that the page
//! says what this server does, not what a default would.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::caller::Caller;
use crate::forms::FormError;

/// How long a signed-in browser's session lasts without being used.
pub const SESSION_IDLE_DAYS: i64 = 14;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// How long a delivered result (and its prompt) is kept, in seconds.
    pub result_secs: u64,
    /// How long a request that nobody looks at waits before it expires, in seconds.
    pub request_expiry_secs: u64,
    /// How long the rest of a request (model, size, kudos) is kept, in seconds.
    pub history_secs: u64,
    /// How long a client address hash can be tied to the address (its secret's lifetime).
    pub address_hash_secs: u64,
    /// How long a sign-in through a provider may take, in seconds (its cookie's lifetime).
    pub login_secs: u64,
    /// The labels of the login providers one can sign in with.
    pub login_providers: Vec<String>,
    pub session_idle_days: i64,
}

#[server(prefix = "/_leptos", endpoint = "retention")]
pub async fn retention() -> Result<RetentionPolicy, FormError> {
    let caller = Caller::current().await?;
    let policy = caller.horde.policy();
    Ok(RetentionPolicy {
        result_secs: policy.result_retention.as_secs(),
        request_expiry_secs: policy.request_expiry.as_secs(),
        history_secs: policy.history_retention.as_secs(),
        address_hash_secs: policy.address_hash_lifetime.as_secs(),
        login_secs: potluck_core::PENDING_LOGIN_LIFETIME.as_secs(),
        login_providers: crate::caller::server_context::<crate::api::access::LoginOffers>(
            "login providers",
        )?
        .0
        .into_iter()
        .map(|offer| offer.label)
        .collect(),
        session_idle_days: SESSION_IDLE_DAYS,
    })
}
