//! The account page's "Your data": download everything stored, the contact address, freezing,
//! and deleting the account.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::account::AccountView;
use crate::api::your_data::{EraseAccount, ExportMyData, SetContact, SetFrozen, EXPORT_FILE};
use crate::forms::{action_error, Field, FormProblem, SubmitButton};

#[component]
pub fn YourData(
    account: AccountView,
    contact: ServerAction<SetContact>,
    frozen: ServerAction<SetFrozen>,
) -> impl IntoView {
    view! {
        <h2 id="your-data">"Your data"</h2>
        <p>
            "Everything this server keeps about your account, in one JSON file: the account, its \
             kudos ledger, your workers, your requests still stored (with their prompts and \
             results until they are purged)."
        </p>
        <p><a href=ExportMyData::PATH download=EXPORT_FILE class="button" id="export">"Download my data"</a></p>
        <Contact current=account.contact contact />
        <Freeze frozen_now=account.frozen frozen />
        <Erase username=account.username />
    }
}

#[component]
fn Contact(current: Option<String>, contact: ServerAction<SetContact>) -> impl IntoView {
    let error = action_error(contact);
    let has_contact = current.is_some();
    view! {
        <h3>"Contact address"</h3>
        <p class="hint">
            "Optional, and only so that the operators can reach you about your workers. Nobody \
             else sees it; remove it whenever you like."
        </p>
        <ActionForm action=contact attr:class="form inline-form" attr:id="contact-form" attr:novalidate=true>
            <FormProblem error fields=&["contact"] />
            <Field label="E-mail" name="contact" api_field="contact" error>
                <input type="email" id="contact" name="contact" autocomplete="email"
                    value=current.unwrap_or_default() aria-describedby="contact-error" />
            </Field>
            <SubmitButton label="Save" busy="Saving…" pending=contact.pending() id="save-contact" class="button" />
        </ActionForm>
        {has_contact.then(|| view! {
            <ActionForm action=contact attr:class="inline">
                <input type="hidden" name="contact" value="" />
                <button type="submit" class="button small" id="remove-contact">"Remove my address"</button>
            </ActionForm>
        })}
    }
}

#[component]
fn Freeze(frozen_now: bool, frozen: ServerAction<SetFrozen>) -> impl IntoView {
    let error = action_error(frozen);
    let (text, label, id) = match frozen_now {
        true => (
            "Your account is frozen: nothing is processed for it (no requests, no jobs for your \
             workers, no kudos transfers) until you unfreeze it.",
            "Unfreeze",
            "unfreeze",
        ),
        false => (
            "Freezing stops all processing for your account until you unfreeze it: your waiting \
             requests are cancelled, new ones, your workers' jobs and kudos transfers are refused.",
            "Freeze my account",
            "freeze",
        ),
    };
    view! {
        <h3>"Freeze"</h3>
        <p class:notice=frozen_now id="frozen-state">{text}</p>
        <FormProblem error fields=&[] />
        <ActionForm action=frozen attr:class="inline">
            <input type="hidden" name="frozen" value=(!frozen_now).to_string() />
            <button type="submit" class="button" id=id>{label}</button>
        </ActionForm>
    }
}

#[component]
fn Erase(username: String) -> impl IntoView {
    let erase = ServerAction::<EraseAccount>::new();
    let error = action_error(erase);
    view! {
        <h3>"Delete my account"</h3>
        <p>
            "Your key stops working at once; your name, contact address, workers and sessions are \
             deleted, your requests cancelled and their prompts and results purged. Your kudos \
             go. The lines of your kudos ledger stay, under the name "
            <code>"erased"</code>
            ", because the balances of the accounts you traded kudos with are the sums of theirs."
        </p>
        <ActionForm action=erase attr:class="form" attr:id="erase-form" attr:novalidate=true>
            <FormProblem error fields=&["confirm"] />
            <Field label="Type your name to confirm" name="confirm" api_field="confirm" error>
                <input type="text" id="confirm" name="confirm" autocomplete="off"
                    placeholder=username aria-describedby="confirm-error" />
            </Field>
            <SubmitButton label="Delete my account" busy="Deleting…" pending=erase.pending() id="erase" class="button danger" />
        </ActionForm>
    }
}
