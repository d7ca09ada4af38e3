//! The data rights on the account page: download everything stored about the account, set or
//! withdraw its contact address, freeze or unfreeze it, erase it. The same `Horde` calls as
//! `/api/v2/users/me`.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use protocol::UserDataExport;

#[cfg(feature = "ssr")]
use crate::caller::{invalid, report, Caller};
use crate::forms::FormError;

/// The name the browser saves the export under.
pub const EXPORT_FILE: &str = "potluck-data.json";

/// A GET, so that a plain link saves the file, with JavaScript or without.
#[server(prefix = "/_leptos", endpoint = "export_my_data", input = GetUrl)]
pub async fn export_my_data() -> Result<UserDataExport, FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    caller.horde.export_data(&account).await.map_err(report)
}

/// Sets the contact address; an empty one withdraws it.
#[server(prefix = "/_leptos", endpoint = "set_contact")]
pub async fn set_contact(contact: String) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    let contact = Some(contact.trim()).filter(|c| !c.is_empty());
    caller
        .horde
        .set_contact(&account, contact)
        .await
        .map_err(report)?;
    Ok(())
}

#[server(prefix = "/_leptos", endpoint = "set_frozen")]
pub async fn set_frozen(frozen: bool) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    caller
        .horde
        .set_frozen(&account, frozen)
        .await
        .map_err(report)?;
    Ok(())
}

/// Erases the signed-in account once its name is typed as confirmation, and signs the browser
/// out (the erasure already ended the account's sessions; this tells the browser).
#[server(prefix = "/_leptos", endpoint = "erase_account")]
pub async fn erase_account(confirm: String) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let account = caller.require_signed_in().await?;
    if confirm.trim() != account.user.username {
        return Err(invalid(FormError::new(
            Some("confirm"),
            format!(
                "Type your name, {}, to confirm the deletion",
                account.user.username
            ),
        )));
    }
    caller.horde.erase_account(&account).await.map_err(report)?;
    caller.sign_out().await?;
    leptos_axum::redirect("/");
    Ok(())
}
