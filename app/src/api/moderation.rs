//! The moderators' page: the server's modes, an account under review (its flags, trust,
//! concurrency and signs of suspicion, its workers' pauses and messages), prompt filters,
//! address timeouts and the moderation log. Every change goes through the same `Horde` methods
//! as `/api/v2`, so the same rights, checks and moderation log apply.

use leptos::prelude::*;
use protocol::{
    FilterDetails, HordeModes, IpTimeout, ModerationEntry, SuspicionDetails, UserDetails,
    WorkerDetails,
};
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::caller::{invalid, report, Caller};
use crate::forms::FormError;

/// What the page shows the browser that opens it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModerationAccess {
    SignedOut,
    NotModerator,
    Moderator(Box<ModerationView>),
}

/// What a moderator sees without looking anyone up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModerationView {
    /// Maintenance is an admin's to set.
    pub admin: bool,
    pub modes: HordeModes,
    pub filters: Vec<FilterDetails>,
    pub timeouts: Vec<IpTimeout>,
    /// The latest entries, newest first.
    pub log: Vec<ModerationEntry>,
}

/// An account a moderator looked up, and its workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountUnderReview {
    pub details: UserDetails,
    pub suspicions: Vec<SuspicionDetails>,
    pub workers: Vec<WorkerDetails>,
}

#[server(prefix = "/_leptos", endpoint = "moderation_overview")]
pub async fn moderation_overview() -> Result<ModerationAccess, FormError> {
    let caller = Caller::current().await?;
    let Some(account) = caller.signed_in().await? else {
        return Ok(ModerationAccess::SignedOut);
    };
    if !account.user.moderator {
        return Ok(ModerationAccess::NotModerator);
    }
    let horde = &caller.horde;
    Ok(ModerationAccess::Moderator(Box::new(ModerationView {
        admin: account.user.admin,
        modes: horde.modes(Some(&account)).await.map_err(report)?,
        filters: horde.filters(&account, None, None).await.map_err(report)?,
        timeouts: horde.address_timeouts(&account).await.map_err(report)?,
        log: horde.moderation_log(&account, None).await.map_err(report)?,
    })))
}

/// An account by `name#id` or its number, as a moderator sees it.
#[server(prefix = "/_leptos", endpoint = "review_account")]
pub async fn review_account(user: String) -> Result<AccountUnderReview, FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    let id = user_id(&user)?;
    let details = caller.horde.user(&account, id).await.map_err(report)?;
    let suspicions = caller
        .horde
        .suspicions(&account, id)
        .await
        .map_err(report)?;
    let mut workers = Vec::new();
    for worker in details.worker_ids.iter().flatten() {
        workers.push(
            caller
                .horde
                .worker(&account, worker)
                .await
                .map_err(report)?,
        );
    }
    Ok(AccountUnderReview {
        details,
        suspicions,
        workers,
    })
}

/// Makes a change as the signed-in account, through the `Horde` method the API calls (which
/// checks the account's rights); its answer is not needed, the page reads everything again.
#[cfg(feature = "ssr")]
async fn change_as_signed_in<F, Fut, T>(change: F) -> Result<(), FormError>
where
    F: FnOnce(std::sync::Arc<potluck_core::Horde>, potluck_core::Account) -> Fut,
    Fut: std::future::Future<Output = Result<T, potluck_core::CoreError>>,
{
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    change(caller.horde.clone(), account)
        .await
        .map_err(report)?;
    Ok(())
}

/// The number of `name#id`, or of a bare number.
#[cfg(feature = "ssr")]
fn user_id(user: &str) -> Result<i64, FormError> {
    let id = user.rsplit_once('#').map_or(user, |(_, id)| id);
    id.trim().parse().map_err(|_| {
        invalid(FormError::new(
            Some("user"),
            "Name the account as name#number, or by its number",
        ))
    })
}

/// One of a moderator's changes to an account: `flag`, `unflag`, `trust`, `untrust` or
/// `reset_suspicion`.
#[server(prefix = "/_leptos", endpoint = "moderate_account")]
pub async fn moderate_account(user_id: i64, change: String) -> Result<(), FormError> {
    let mut input = protocol::ModifyUserInput::default();
    match change.as_str() {
        "flag" | "unflag" => input.flagged = Some(change == "flag"),
        "trust" | "untrust" => input.trusted = Some(change == "trust"),
        "reset_suspicion" => input.reset_suspicion = Some(true),
        _ => return Err(invalid(FormError::new(None, "Unknown change"))),
    }
    change_as_signed_in(|horde, account| async move {
        horde.modify_user(&account, user_id, input).await
    })
    .await
}

#[server(prefix = "/_leptos", endpoint = "set_concurrency")]
pub async fn set_concurrency(user_id: i64, concurrency: String) -> Result<(), FormError> {
    let concurrency =
        super::parse_number("concurrency", "Concurrency", &concurrency).map_err(invalid)?;
    let input = protocol::ModifyUserInput {
        concurrency: Some(concurrency),
        ..Default::default()
    };
    change_as_signed_in(|horde, account| async move {
        horde.modify_user(&account, user_id, input).await
    })
    .await
}

/// Pauses a worker (it serves its owner's requests only) or lifts its pause.
#[server(prefix = "/_leptos", endpoint = "pause_worker")]
pub async fn pause_worker(worker: String, paused: bool) -> Result<(), FormError> {
    let input = protocol::ModifyWorkerInput {
        paused: Some(paused),
        ..Default::default()
    };
    change_as_signed_in(|horde, account| async move {
        horde.modify_worker(&account, &worker, input).await
    })
    .await
}

/// A message a worker reads with its pops, for `expiry` hours.
#[server(prefix = "/_leptos", endpoint = "message_worker")]
pub async fn message_worker(
    worker: String,
    message: String,
    expiry: String,
) -> Result<(), FormError> {
    let expiry = super::parse_number("expiry", "Hours", &expiry).map_err(invalid)?;
    let input = protocol::WorkerMessageInput {
        worker_id: Some(worker),
        message,
        expiry: Some(expiry),
        ..Default::default()
    };
    change_as_signed_in(
        |horde, account| async move { horde.send_worker_message(&account, input).await },
    )
    .await
}

/// Turns one of the modes (`maintenance`, `invite_only`, `raid`) on or off.
#[server(prefix = "/_leptos", endpoint = "set_mode")]
pub async fn set_mode(mode: String, on: bool) -> Result<(), FormError> {
    let mut input = HordeModes::default();
    match mode.as_str() {
        "maintenance" => input.maintenance_mode = Some(on),
        "invite_only" => input.invite_only_mode = Some(on),
        "raid" => input.raid_mode = Some(on),
        _ => return Err(invalid(FormError::new(None, "Unknown mode"))),
    }
    change_as_signed_in(|horde, account| async move { horde.set_modes(&account, input).await })
        .await
}

#[server(prefix = "/_leptos", endpoint = "add_filter")]
pub async fn add_filter(
    regex: String,
    filter_type: String,
    description: String,
    replacement: String,
) -> Result<(), FormError> {
    let filter_type = super::parse_number("filter_type", "Type", &filter_type).map_err(invalid)?;
    let optional = |text: String| (!text.trim().is_empty()).then_some(text);
    let input = protocol::PutNewFilter {
        regex,
        filter_type,
        description: optional(description),
        replacement: optional(replacement),
    };
    change_as_signed_in(|horde, account| async move { horde.add_filter(&account, input).await })
        .await
}

#[server(prefix = "/_leptos", endpoint = "delete_filter")]
pub async fn delete_filter(id: String) -> Result<(), FormError> {
    let id = super::parse_number("id", "Filter", &id).map_err(invalid)?;
    change_as_signed_in(|horde, account| async move { horde.delete_filter(&account, id).await })
        .await
}

/// Puts a client address (or an IPv6 /64) in timeout for `hours`.
#[server(prefix = "/_leptos", endpoint = "add_timeout")]
pub async fn add_timeout(ipaddr: String, hours: String) -> Result<(), FormError> {
    let hours = super::parse_number("hours", "Hours", &hours).map_err(invalid)?;
    change_as_signed_in(|horde, account| async move {
        horde.block_address(&account, ipaddr.trim(), hours).await
    })
    .await
}

/// Lifts every timeout of a client address.
#[server(prefix = "/_leptos", endpoint = "lift_timeout")]
pub async fn lift_timeout(ipaddr: String) -> Result<(), FormError> {
    change_as_signed_in(|horde, account| async move {
        horde.unblock_address(&account, ipaddr.trim()).await
    })
    .await
}
