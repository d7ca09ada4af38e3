//! Accounts in the browser: register, sign in and out, and what the account page shows and does
//! (kudos and their history, the workers one owns, kudos transfers).

use leptos::prelude::*;
use protocol::WorkerDetails;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::caller::{invalid, report, Caller};
use crate::forms::FormError;

/// How many ledger lines the account page lists.
pub const HISTORY_LINES: i64 = 50;

/// Who the browser is signed in as, for the header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedInAs {
    /// `name#id`, the name others send kudos to.
    pub alias: String,
    pub kudos: f64,
    /// It may open the moderators' page.
    pub moderator: bool,
}

/// A new account and its key, which is shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAccount {
    pub alias: String,
    pub apikey: String,
}

/// One movement of kudos.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerLine {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub amount: f64,
    pub reason: String,
    /// The job it paid for, or the other account of a transfer (as its id).
    pub job: Option<String>,
    pub counterparty: Option<i64>,
    /// It moved held kudos (rewards waiting for verification), not spendable ones.
    pub held: bool,
}

/// Everything the account page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub alias: String,
    /// The name alone, which confirms a deletion.
    pub username: String,
    pub contact: Option<String>,
    pub frozen: bool,
    /// The label of the login provider it signs in with; None for a pseudonymous account.
    pub login_provider: Option<String>,
    pub kudos: f64,
    /// Rewards of its workers that wait for verification.
    pub held_kudos: f64,
    pub history: Vec<LedgerLine>,
    pub workers: Vec<WorkerDetails>,
}

#[server(prefix = "/_leptos", endpoint = "signed_in")]
pub async fn signed_in() -> Result<Option<SignedInAs>, FormError> {
    let caller = Caller::current().await?;
    Ok(caller.signed_in().await?.map(|account| SignedInAs {
        alias: account.user.alias(),
        kudos: potluck_core::Kudos(account.user.kudos).as_f64(),
        moderator: account.user.moderator,
    }))
}

/// Creates a pseudonymous account, signs the browser in as it, and returns its key once.
#[server(prefix = "/_leptos", endpoint = "register")]
pub async fn register(username: String) -> Result<NewAccount, FormError> {
    let caller = Caller::current().await?;
    let registered = caller
        .horde
        .register(Some(&username))
        .await
        .map_err(report)?;
    caller.sign_in(&registered.apikey).await?;
    Ok(NewAccount {
        alias: registered.username,
        apikey: registered.apikey,
    })
}

#[server(prefix = "/_leptos", endpoint = "log_in")]
pub async fn log_in(apikey: String) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    caller.sign_in(&apikey).await?;
    leptos_axum::redirect("/account");
    Ok(())
}

#[server(prefix = "/_leptos", endpoint = "log_out")]
pub async fn log_out() -> Result<(), FormError> {
    let caller = Caller::current().await?;
    caller.sign_out().await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// The signed-in account's page, or None for a browser that has not signed in.
#[server(prefix = "/_leptos", endpoint = "account_overview")]
pub async fn account_overview() -> Result<Option<AccountView>, FormError> {
    let caller = Caller::current().await?;
    let Some(account) = caller.signed_in().await? else {
        return Ok(None);
    };
    let history = caller
        .horde
        .kudos_history(&account, HISTORY_LINES)
        .await
        .map_err(report)?
        .into_iter()
        .map(|line| LedgerLine {
            at: u64::try_from(line.created_at / 1000).unwrap_or_default(),
            amount: potluck_core::Kudos(line.amount).as_f64(),
            reason: line.reason,
            job: line.job_id,
            counterparty: line.counterparty,
            held: line.held,
        })
        .collect();
    let mut workers = caller.horde.workers_of(&account).await.map_err(report)?;
    workers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(AccountView {
        alias: account.user.alias(),
        username: account.user.username.clone(),
        contact: account.user.contact.clone(),
        frozen: account.user.frozen,
        login_provider: account.user.login_provider.as_deref().map(provider_label),
        kudos: potluck_core::Kudos(account.user.kudos).as_f64(),
        held_kudos: potluck_core::Kudos(account.user.held_kudos).as_f64(),
        history,
        workers,
    }))
}

/// A provider's label as configured, or its id if the server no longer offers it.
#[cfg(feature = "ssr")]
fn provider_label(id: &str) -> String {
    crate::caller::server_context::<crate::api::access::LoginOffers>("login providers")
        .ok()
        .and_then(|offers| offers.0.into_iter().find(|o| o.id == id))
        .map_or_else(|| id.to_string(), |offer| offer.label)
}

/// Puts one of the caller's workers into maintenance (it takes no jobs) or out of it.
#[server(prefix = "/_leptos", endpoint = "set_maintenance")]
pub async fn set_maintenance(worker: String, maintenance: bool) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    let change = protocol::ModifyWorkerInput {
        maintenance: Some(maintenance),
        ..Default::default()
    };
    caller
        .horde
        .modify_worker(&account, &worker, change)
        .await
        .map_err(report)?;
    Ok(())
}

/// Gives kudos to another account, named `name#id`.
#[server(prefix = "/_leptos", endpoint = "transfer_kudos")]
pub async fn transfer_kudos(recipient: String, amount: String) -> Result<f64, FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    let amount: f64 = super::parse_number("amount", "Amount", &amount).map_err(invalid)?;
    let transferred = caller
        .horde
        .transfer_kudos(&account, &recipient, amount)
        .await
        .map_err(report)?;
    Ok(transferred.transferred)
}

/// Renames the signed-in account, if it is linked to a login provider; returns its new alias.
#[server(prefix = "/_leptos", endpoint = "rename")]
pub async fn rename(username: String) -> Result<String, FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    caller
        .horde
        .rename(&account, &username)
        .await
        .map_err(report)
}

/// Gives the signed-in account, if it is linked to a login provider, a new key, shown this once.
/// The old key stops working, and with it every session; this browser's is renewed.
#[server(prefix = "/_leptos", endpoint = "reset_key")]
pub async fn reset_key() -> Result<String, FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    let apikey = caller.horde.reset_key(&account).await.map_err(report)?;
    caller.renew_sign_in(&apikey).await?;
    Ok(apikey)
}
