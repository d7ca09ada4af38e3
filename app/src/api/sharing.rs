//! What the account page offers besides kudos: shared keys (lend one's kudos, within limits, to
//! whoever holds the key), teams (group one's workers), and the messages moderators and owners
//! left for one's workers. The same rules as `/api/v2/sharedkeys`, `/teams` and
//! `/workers/messages`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::caller::{invalid, report, Caller};
use crate::forms::FormError;

/// One of the account's shared keys, as listed: the key itself is shown once, at its creation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedKeyLine {
    /// The row's id, by which the page deletes it.
    pub id: i64,
    pub name: Option<String>,
    /// What it may still spend; none for no limit.
    pub kudos_left: Option<f64>,
    pub spent: f64,
    /// Seconds since the Unix epoch; none when it never expires.
    pub expires: Option<u64>,
}

/// A team the account created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamLine {
    pub id: String,
    pub name: String,
    pub workers: usize,
    pub requests_fulfilled: i64,
}

/// A message for the account's workers (or for every worker).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageLine {
    /// The worker it is for; none when it is for all of them.
    pub worker: Option<String>,
    pub message: String,
    /// Hours until it expires.
    pub expiry_hours: i64,
}

/// The account page's shared keys, teams and messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SharingView {
    pub shared_keys: Vec<SharedKeyLine>,
    pub teams: Vec<TeamLine>,
    pub messages: Vec<MessageLine>,
}

/// The signed-in account's shared keys, teams and messages; none for a browser not signed in.
#[server(prefix = "/_leptos", endpoint = "sharing")]
pub async fn sharing() -> Result<Option<SharingView>, FormError> {
    let caller = Caller::current().await?;
    let Some(account) = caller.signed_in().await? else {
        return Ok(None);
    };
    let horde = &caller.horde;
    let shared_keys = horde
        .shared_keys_of(&account)
        .await
        .map_err(report)?
        .into_iter()
        .map(|key| SharedKeyLine {
            id: key.id,
            name: key.name,
            kudos_left: key.kudos.map(|k| potluck_core::Kudos(k).as_f64()),
            spent: potluck_core::Kudos(key.utilized).as_f64(),
            expires: key.expires_at.and_then(|at| u64::try_from(at / 1000).ok()),
        })
        .collect();
    let teams = horde
        .teams_of(&account)
        .await
        .map_err(report)?
        .into_iter()
        .map(|team| TeamLine {
            id: team.id,
            name: team.name,
            workers: team.workers.len(),
            requests_fulfilled: team.requests_fulfilled,
        })
        .collect();
    let own_id = account.user.id.to_string();
    let query = potluck_core::MessagesQuery {
        user_id: Some(&own_id),
        ..Default::default()
    };
    let messages = horde
        .worker_messages(&account, query)
        .await
        .map_err(report)?
        .into_iter()
        .map(|m| MessageLine {
            worker: m.worker_id,
            message: m.message,
            expiry_hours: m.expiry,
        })
        .collect();
    Ok(Some(SharingView {
        shared_keys,
        teams,
        messages,
    }))
}

/// Makes a shared key that may spend `kudos` (empty: the AI Horde's default of 5000; -1: no
/// limit) and expires after `expiry_days` (empty: never); returns the key, shown this once.
#[server(prefix = "/_leptos", endpoint = "create_shared_key")]
pub async fn create_shared_key(
    name: String,
    kudos: String,
    expiry_days: String,
) -> Result<String, FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    let optional = |field: &str, label: &str, typed: &str| -> Result<Option<i64>, FormError> {
        match typed.trim() {
            "" => Ok(None),
            typed => super::parse_number(field, label, typed).map(Some),
        }
    };
    let input = protocol::SharedKeyInput {
        name: Some(name.trim().to_string()).filter(|n| !n.is_empty()),
        kudos: optional("kudos", "Kudos", &kudos).map_err(invalid)?,
        expiry: optional("expiry", "Days", &expiry_days).map_err(invalid)?,
        ..Default::default()
    };
    let key = caller
        .horde
        .create_shared_key(&account, input)
        .await
        .map_err(report)?;
    Ok(key.id)
}

/// Deletes one of the account's shared keys; what it queued and nobody took is cancelled.
#[server(prefix = "/_leptos", endpoint = "delete_shared_key")]
pub async fn delete_shared_key(id: i64) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    caller
        .horde
        .delete_shared_key_by_id(&account, id)
        .await
        .map_err(report)?;
    Ok(())
}

/// Creates a team (trusted accounts only, as in the AI Horde); workers join it through their
/// owner's `PUT /api/v2/workers/{id}` with `team`.
#[server(prefix = "/_leptos", endpoint = "create_team")]
pub async fn create_team(name: String, info: String) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    let input = protocol::CreateTeamInput {
        name,
        info: Some(info.trim().to_string()).filter(|i| !i.is_empty()),
    };
    caller
        .horde
        .create_team(&account, input)
        .await
        .map_err(report)?;
    Ok(())
}
