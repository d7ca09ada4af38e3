//! What Potluck stores and for how long, in plain words, with this server's own figures.

use leptos::prelude::*;
use leptos_meta::Title;

use super::loaded;
use super::private::private_server_context;
use crate::api::privacy::{retention, RetentionPolicy};

#[component]
pub fn PrivacyPage() -> impl IntoView {
    let retention = Resource::new(|| (), |_| retention());
    let private = private_server_context();
    view! {
        <Title text="Privacy" />
        <section class="page prose">
            <h1>"Privacy"</h1>
            <p class="lead">
                "Potluck works without an account and without tracking you. This page says what this \
                 server keeps, why, and for how long."
            </p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    private.get().await.then(|| view! { <PrivateFacts /> })
                })}
            </Suspense>
            {loaded(retention, "Loading this server's settings…", |retention| view! { <Facts retention /> })}
        </section>
    }
}

/// What changes on a private server: nobody is anonymous to its operator.
#[component]
fn PrivateFacts() -> impl IntoView {
    view! {
        <h2>"A private server"</h2>
        <p id="private-server">
            "This server is private: only accounts issued by its operator can use it. Nothing can be \
             asked anonymously and nobody can register, so the operator knows whose account made \
             each request. What is said below about using it without an account applies to \
             visiting its pages only."
        </p>
    }
}

#[component]
fn Facts(retention: RetentionPolicy) -> impl IntoView {
    let result = duration(retention.result_secs);
    let expiry = duration(retention.request_expiry_secs);
    let history = duration(retention.history_secs);
    let address_hash = duration(retention.address_hash_secs);
    let providers = retention.login_providers.clone();
    let login = duration(retention.login_secs);
    view! {
        <h2>"Without an account"</h2>
        <ul>
            <li>"No cookies, no analytics, no fingerprinting; the pages load nothing from other sites."</li>
            <li id="address-hash">
                "Your IP address is never stored, nor written to the logs. To stop one visitor from \
                 filling the queue, the server keeps a keyed hash of it with each anonymous \
                 request, which says nothing without the server's secret key. That key is replaced \
                 every " {address_hash.clone()} " and the old one deleted, and every hash is erased \
                 with the prompt (below) or after " {address_hash} " at the latest: after that, \
                 not even the server can tell whose it was."
            </li>
        </ul>
        <h2>"Your prompts and results"</h2>
        <ul>
            <li>
                "A prompt is stored only until a worker has done the job and you have fetched the \
                 result; prompt and result are then kept " {result.clone()} " more (so that a reload \
                 still shows them) and erased. A request nobody looks at expires after " {expiry}
                 " and is erased the same way."
            </li>
            <li>
                "What remains of a request (the model, the size, the kudos it cost) is kept for "
                {history} " for the queue's figures and then deleted."
            </li>
            <li>
                "Neither prompts nor results, API keys nor addresses are written to the server's \
                 logs: the log is filtered on its way out, whatever wrote to it."
            </li>
            <li>
                "Workers are run by volunteers, and a worker sees the prompt it works on (it has to). \
                 The prompt goes to them without your name, account or address."
            </li>
            <li>
                "Every worker says whether it keeps the prompts and results it is given (in logs, \
                 caches or for training); most keep nothing. Tick \"Only workers that keep \
                 nothing\" on a request, or send " <code>"workers_keep_nothing"</code> " in the \
                 API, and the others never see it."
            </li>
            <li id="checks">
                "A result from a worker that is not yet trusted may be checked by one more worker: \
                 a trusted one, run by someone other than the first worker's owner, scores it (or \
                 generates it again) for the same prompt. That worker also sees the prompt, without \
                 your name, account or address, and it too keeps nothing when you asked for \
                 workers that keep nothing. What a check stores is numbers, no text, and it goes \
                 with your request."
            </li>
        </ul>
        <h2>"With an account"</h2>
        <ul>
            <li>
                "An account is a name you choose, a hash of your API key (never the key itself), your \
                 kudos with their history, and counts of what you asked for and contributed."
            </li>
            <li>
                "Logging in sets one cookie: a random session id, HttpOnly and SameSite=Strict. The \
                 session on the server holds your key's hash and ends when you log out, or after "
                {retention.session_idle_days} " days unused."
            </li>
            <SignInFacts providers login />
            <li>
                "Workers you run are listed publicly by the name you give them, with their models \
                 and the work they did."
            </li>
            <li>
                "Contributing from a browser tab keeps your key and the tab's worker name in this \
                 browser's local storage (not a cookie; they are sent only to this server), and \
                 the model in its cache. Clearing this site's data removes them."
            </li>
            <li>
                "Your account page (and the API, under " <code>"/api/v2/users/me"</code> ") lets \
                 you download all of it as JSON, add or remove a contact e-mail, freeze the \
                 account so that nothing is processed for it, and delete it. Deleting removes \
                 your key, name, contact, workers and sessions, and the prompts and results of \
                 your requests, at once; only the lines of your kudos history stay, under the \
                 name \"erased\", because the balances of the accounts you traded kudos with \
                 depend on them."
            </li>
        </ul>
        <p class="hint">
            "This is free software: what is stored can be read in its source, and the operator of \
             this server sets the durations above."
        </p>
    }
}

/// What signing in through a provider keeps, when the server offers any.
#[component]
fn SignInFacts(providers: Vec<String>, login: String) -> impl IntoView {
    if providers.is_empty() {
        return view! {
            <li id="pseudonymous">
                "Accounts here are pseudonymous: a name and a key. The name and the key stay as \
                 they were made; only a replacement by the operator changes the key."
            </li>
        }
        .into_any();
    }
    view! {
        <li id="sign-in-facts">
            "You can sign in with " {providers.join(", ")} ". Of what the provider knows about \
             you, only the opaque id it has for you (its \"subject\") is kept: not your name, \
             e-mail or picture, even when the provider sends them along. While you \
             sign in, one more cookie (HttpOnly, only for the sign-in's own addresses) holds a \
             random value for at most " {login} ", so that nobody else's sign-in can end in your \
             browser; it is deleted when you are back. Such an account can change its name and \
             get a new API key at any time; a pseudonymous account (a name and a key, made on the \
             Register page) keeps both as they were made."
        </li>
    }
    .into_any()
}

/// A duration in the words people use.
fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} seconds"),
        s if s < 2 * 3600 => format!("{} minutes", s / 60),
        s if s < 2 * 86_400 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(30), "30 seconds");
        assert_eq!(duration(600), "10 minutes");
        assert_eq!(duration(86_400), "24 hours");
        assert_eq!(duration(14 * 86_400), "14 days");
    }
}
