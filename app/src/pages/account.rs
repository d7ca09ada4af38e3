//! Register, log in, and the account page: kudos and their history, one's workers, transfers,
//! shared keys, teams and messages (`sharing`), and what one can do with one's data
//! (`your_data`).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use protocol::WorkerDetails;

use super::linked::{LinkedAccount, LoginFailed, ProviderButtons};
use super::private::private_server_context;
use super::sharing::SharingSections;
use super::your_data::YourData;
use super::{loaded, SessionChanged, Stat, Table};
use crate::api::account::{
    account_overview, AccountView, LedgerLine, LogIn, Register, Rename, SetMaintenance,
    TransferKudos,
};
use crate::api::your_data::{SetContact, SetFrozen};
use crate::clock::UtcTime;
use crate::forms::{action_error, Field, FormProblem, SubmitButton};
use crate::live::CopyButton;

const WORKER_COLUMNS: &[(&str, bool)] = &[
    ("Name", false),
    ("Models", false),
    ("Jobs done", true),
    ("Checks passed / failed", true),
    ("State", false),
    ("Maintenance", false),
];
const HISTORY_COLUMNS: &[(&str, bool)] = &[("When", false), ("What", false), ("Kudos", true)];

/// The registration form, or, on a private server, where its accounts come from instead.
#[component]
pub fn RegisterPage() -> impl IntoView {
    let private = private_server_context();
    view! {
        <Title text="Register" />
        <section class="page narrow">
            <h1>"Register"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match private.get().await {
                        true => view! { <RegistrationClosed /> }.into_any(),
                        false => view! { <RegisterForm /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RegistrationClosed() -> impl IntoView {
    view! {
        <p class="lead" id="registration-closed">
            "This is a private server: it has no registration. Its operator issues the accounts; \
             ask them for an API key, then log in with it."
        </p>
        <p><A href="/login" attr:class="button primary">"Log in"</A></p>
        <ProviderButtons />
    }
}

#[component]
fn RegisterForm() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let error = action_error(register);
    let registered = move || register.value().get().and_then(Result::ok);
    // Registering signs the browser in: the header should say so.
    let changed = use_context::<SessionChanged>().unwrap_or_default();
    Effect::new(move |_| {
        if registered().is_some() {
            changed.bump();
        }
    });
    view! {
        {move || match registered() {
            Some(account) => view! {
                <div class="key-box" role="status" id="new-key">
                    <h2>"Welcome, " {account.alias.clone()}</h2>
                    <p>"This is your API key. It signs you in here and in every AI Horde client:"</p>
                    <p><code id="apikey" class="key">{account.apikey.clone()}</code></p>
                    <CopyButton text=account.apikey label="Copy the key" id="copy-key" />
                    <p class="warning">
                        <strong>"Keep it safe now: it is shown only this once."</strong>
                        " Potluck stores only a hash of it, so nobody can show it to you again or \
                         recover it if you lose it."
                    </p>
                    <p><A href="/account" attr:class="button primary">"Go to your account"</A></p>
                </div>
            }.into_any(),
            None => view! {
                <p class="lead">
                    "An account is a name and a key, nothing more: no e-mail, no password. With \
                     it your requests go ahead of anonymous ones, and your workers earn kudos."
                </p>
                <noscript>
                    <p class="notice">
                        "Registering needs JavaScript, so that your key is shown to you once and \
                         never stored. Without it, use the API: "
                        <code>"POST /api/v2/register"</code> "."
                    </p>
                </noscript>
                <ActionForm action=register attr:class="form" attr:novalidate=true>
                    <FormProblem error fields=&["username"] />
                    <Field label="Name" name="username" api_field="username" error
                        hint="3 to 100 characters; others see it as name#number.">
                        <input type="text" id="username" name="username" autocomplete="username"
                            aria-describedby="username-hint username-error" />
                    </Field>
                    <SubmitButton label="Register" busy="Registering…" pending=register.pending() id="register" />
                </ActionForm>
                <ProviderButtons />
                <p>"Have a key already? " <A href="/login">"Log in"</A></p>
            }.into_any(),
        }}
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let log_in = ServerAction::<LogIn>::new();
    let error = action_error(log_in);
    view! {
        <Title text="Log in" />
        <section class="page narrow">
            <h1>"Log in"</h1>
            <LoginFailed />
            <p class="lead">
                "Log in with your API key. This browser then keeps a session cookie, and only \
                 then: the key stays on the server, which keeps only its hash."
            </p>
            <ActionForm action=log_in attr:class="form" attr:novalidate=true>
                <FormProblem error fields=&["apikey"] />
                <Field label="API key" name="apikey" api_field="apikey" error>
                    <input type="password" id="apikey" name="apikey" autocomplete="current-password"
                        aria-describedby="apikey-error" />
                </Field>
                <SubmitButton label="Log in" busy="Logging in…" pending=log_in.pending() id="log-in" />
            </ActionForm>
            <ProviderButtons />
            <p>"No key yet? " <A href="/register">"Register"</A> " — it takes a name and a second."</p>
        </section>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let maintenance = ServerAction::<SetMaintenance>::new();
    let transfer = ServerAction::<TransferKudos>::new();
    let contact = ServerAction::<SetContact>::new();
    let frozen = ServerAction::<SetFrozen>::new();
    let rename = ServerAction::<Rename>::new();
    // Every change this page makes refetches what it shows.
    let overview = Resource::new(
        move || {
            (
                maintenance.version().get(),
                transfer.version().get(),
                contact.version().get(),
                frozen.version().get(),
                rename.version().get(),
            )
        },
        |_| account_overview(),
    );
    view! {
        <Title text="Your account" />
        <section class="page">
            {loaded(overview, "Loading your account…", move |account| match account {
                Some(account) => {
                    let actions = AccountActions { maintenance, transfer, contact, frozen, rename };
                    view! { <Account account actions /> }.into_any()
                }
                None => view! {
                    <h1>"Your account"</h1>
                    <p>"You are not logged in. " <A href="/login">"Log in"</A> " or "
                       <A href="/register">"register"</A> "."</p>
                }.into_any(),
            })}
        </section>
    }
}

/// What the account page's forms do; each one's result refetches the page.
#[derive(Clone, Copy)]
struct AccountActions {
    maintenance: ServerAction<SetMaintenance>,
    transfer: ServerAction<TransferKudos>,
    contact: ServerAction<SetContact>,
    frozen: ServerAction<SetFrozen>,
    rename: ServerAction<Rename>,
}

#[component]
fn Account(account: AccountView, actions: AccountActions) -> impl IntoView {
    let AccountActions {
        maintenance,
        transfer,
        contact,
        frozen,
        rename,
    } = actions;
    let alias = account.alias.clone();
    let linked = account.login_provider.clone().map(|provider| {
        let username = account.username.clone();
        view! { <LinkedAccount provider username rename /> }
    });
    view! {
        <h1>{account.alias.clone()}</h1>
        <dl class="stats">
            <Stat label="Kudos" value=format_kudos(account.kudos) id="kudos" />
            <Stat label="Held" value=format_kudos(account.held_kudos) id="held-kudos" />
            <Stat label="Workers" value=account.workers.len().to_string() id="worker-count" />
        </dl>
        <p class="hint">
            "Kudos are earned by your workers and spent by your requests; they buy a better place \
             in the queue, nothing else. Others send you kudos as " <code>{alias}</code> "."
        </p>
        <HeldKudos held=account.held_kudos />
        {linked}
        <Workers workers=account.workers.clone() maintenance />
        <SharingSections />
        <Transfer transfer />
        <History lines=account.history.clone() />
        <YourData account contact frozen />
    }
}

#[component]
fn Workers(
    workers: Vec<WorkerDetails>,
    maintenance: ServerAction<SetMaintenance>,
) -> impl IntoView {
    let error = action_error(maintenance);
    if workers.is_empty() {
        return view! {
            <h2>"Your workers"</h2>
            <p class="empty">"You run no worker yet. " <A href="/contribute">"Start one"</A></p>
        }
        .into_any();
    }
    let rows = workers
        .into_iter()
        .map(|w| {
            let toggle_to = !w.maintenance_mode;
            let name = w.name.clone();
            view! {
                <tr data-worker=name>
                    <th scope="row">{w.name}</th>
                    <td>{w.models.join(", ")}</td>
                    <td class="num">{w.requests_fulfilled}</td>
                    <td class="num">{w.checks_passed} " / " {w.checks_failed}</td>
                    <td>{if w.online { "online" } else { "offline" }}</td>
                    <td>
                        <ActionForm action=maintenance attr:class="inline">
                            <input type="hidden" name="worker" value=w.id />
                            <input type="hidden" name="maintenance" value=toggle_to.to_string() />
                            <button type="submit" class="button small" aria-pressed=w.maintenance_mode.to_string()>
                                {if w.maintenance_mode { "In maintenance: resume" } else { "Pause (maintenance)" }}
                            </button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Your workers"</h2>
        <FormProblem error fields=&[] />
        <Table columns=WORKER_COLUMNS id="my-workers">{rows}</Table>
    }
    .into_any()
}

/// Why some kudos are held, when some are.
#[component]
fn HeldKudos(held: f64) -> impl IntoView {
    (held > 0.0).then(|| {
        view! {
            <p class="hint" id="held-why">
                "Your workers' rewards are held until their work is verified: another, trusted \
                 worker checks some of their results (every one at first, fewer as their record \
                 grows). A result that passes releases what it earned, and what your worker \
                 earned before it; one that fails forfeits them. Held kudos cannot be spent or \
                 given. A worker whose record stays clean long enough is trusted and paid at once."
            </p>
        }
    })
}

#[component]
fn Transfer(transfer: ServerAction<TransferKudos>) -> impl IntoView {
    let error = action_error(transfer);
    let sent = move || transfer.value().get().and_then(Result::ok);
    view! {
        <h2>"Give kudos"</h2>
        <ActionForm action=transfer attr:class="form inline-form" attr:id="transfer-form" attr:novalidate=true>
            <FormProblem error fields=&["username", "amount"] />
            <Field label="To (name#number)" name="recipient" api_field="username" error>
                <input type="text" id="recipient" name="recipient" aria-describedby="recipient-error" />
            </Field>
            <Field label="Kudos" name="amount" api_field="amount" error>
                <input type="number" id="amount" name="amount" min="0.01" step="0.01" aria-describedby="amount-error" />
            </Field>
            <SubmitButton label="Send" busy="Sending…" pending=transfer.pending() id="transfer" class="button" />
        </ActionForm>
        {move || sent().map(|amount| view! {
            <p class="notice" role="status" id="transfer-done">"Sent " {format_kudos(amount)} " kudos."</p>
        })}
    }
}

#[component]
fn History(lines: Vec<LedgerLine>) -> impl IntoView {
    if lines.is_empty() {
        return view! {
            <h2>"Kudos history"</h2>
            <p class="empty">"Nothing yet: kudos move when your workers finish jobs or your requests are done."</p>
        }
        .into_any();
    }
    let rows = lines
        .into_iter()
        .map(|line| {
            let at = UtcTime::from_unix(line.at);
            let what = match (line.reason.as_str(), line.counterparty) {
                ("generated", _) if line.held => "Earned by a worker (held)".to_string(),
                ("generated", _) => "Earned by a worker".to_string(),
                ("uptime", _) if line.held => "Uptime reward (held)".to_string(),
                ("uptime", _) => "Uptime reward".to_string(),
                ("released", _) if line.held => "Verified: released from held".to_string(),
                ("released", _) => "Verified: released".to_string(),
                ("forfeited", _) => "Forfeited: a check failed".to_string(),
                ("refunded", _) => "Refunded: a result failed its check".to_string(),
                ("checked", _) => "Checked another worker's result".to_string(),
                ("spent", _) => "Spent on a request".to_string(),
                ("gifted", Some(to)) => format!("Given to account #{to}"),
                ("received", Some(from)) => format!("Received from account #{from}"),
                ("admin", _) => "Changed by an administrator".to_string(),
                ("floor", _) => "Topped up to your account's floor".to_string(),
                ("styled", _) => "Fee for one of your styles".to_string(),
                ("awarded", _) => "Awarded".to_string(),
                (other, _) => other.to_string(),
            };
            view! {
                <tr>
                    <td><time datetime=at.rfc3339()>{at.date()} " " {at.clock()}</time></td>
                    <td>{what}</td>
                    <td class="num" class:negative=line.amount < 0.0>{format_signed(line.amount)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Kudos history"</h2>
        <Table columns=HISTORY_COLUMNS id="history" caption="The latest movements, newest first (times in UTC)">
            {rows}
        </Table>
    }
    .into_any()
}

/// Kudos with two decimals at most, as the ledger keeps them.
pub fn format_kudos(kudos: f64) -> String {
    let text = format!("{kudos:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn format_signed(kudos: f64) -> String {
    match kudos >= 0.0 {
        true => format!("+{}", format_kudos(kudos)),
        false => format_kudos(kudos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kudos_read_like_numbers() {
        assert_eq!(format_kudos(10.0), "10");
        assert_eq!(format_kudos(5.95), "5.95");
        assert_eq!(format_kudos(0.5), "0.5");
        assert_eq!(format_signed(1.25), "+1.25");
        assert_eq!(format_signed(-3.0), "-3");
    }
}
