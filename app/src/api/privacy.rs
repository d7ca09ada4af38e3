//! The privacy statement: what this server keeps, why and for how long, with the figures read
//! from its own settings so that it says what this server does, not what a default would. It is
//! written once ([`privacy_document`]) and served as the `/privacy` page and as
//! `/api/v2/documents/privacy`.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::caller::Caller;
#[cfg(feature = "ssr")]
use crate::document::{code, text, Block, Document, Inline};
use crate::forms::FormError;

/// How long a signed-in browser's session lasts without being used.
pub const SESSION_IDLE_DAYS: i64 = 14;

/// The settings the privacy statement states.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionPolicy {
    /// A private server: only accounts its operator issued.
    pub private: bool,
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

#[cfg(feature = "ssr")]
impl RetentionPolicy {
    /// This server's: its policy, and the login providers it offers.
    pub fn of(policy: &potluck_core::Policy, login_providers: Vec<String>) -> Self {
        RetentionPolicy {
            private: policy.private,
            result_secs: policy.result_retention.as_secs(),
            request_expiry_secs: policy.request_expiry.as_secs(),
            history_secs: policy.history_retention.as_secs(),
            address_hash_secs: policy.address_hash_lifetime.as_secs(),
            login_secs: potluck_core::PENDING_LOGIN_LIFETIME.as_secs(),
            login_providers,
            session_idle_days: SESSION_IDLE_DAYS,
        }
    }
}

/// The privacy statement as HTML, for the page.
#[server(prefix = "/_leptos", endpoint = "privacy_statement")]
pub async fn privacy_statement() -> Result<String, FormError> {
    let caller = Caller::current().await?;
    let providers =
        crate::caller::server_context::<crate::api::access::LoginOffers>("login providers")?
            .0
            .into_iter()
            .map(|offer| offer.label)
            .collect();
    let facts = RetentionPolicy::of(caller.horde.policy(), providers);
    Ok(privacy_document(&facts).to_html())
}

/// The privacy statement of a server with these settings.
#[cfg(feature = "ssr")]
pub fn privacy_document(r: &RetentionPolicy) -> Document {
    let result = duration(r.result_secs);
    let expiry = duration(r.request_expiry_secs);
    let history = duration(r.history_secs);
    let address_hash = duration(r.address_hash_secs);
    let mut blocks = vec![Block::Lead(vec![text(
        "Potluck works without an account and without tracking you. This page says what this \
         server keeps, why, and for how long.",
    )])];
    if r.private {
        blocks.push(Block::Heading("A private server".into(), None));
        blocks.push(Block::List(vec![(
            Some("private-server"),
            vec![text(
                "This server is private: only accounts issued by its operator can use it. Nothing \
                 can be asked anonymously and nobody can register, so the operator knows whose \
                 account made each request. What is said below about using it without an \
                 account applies to visiting its pages only.",
            )],
        )]));
    }
    blocks.push(Block::Heading("Without an account".into(), None));
    blocks.push(Block::List(vec![
        (
            None,
            vec![text(
                "No cookies, no analytics, no fingerprinting; the pages load nothing from other \
                 sites.",
            )],
        ),
        (
            Some("address-hash"),
            vec![text(format!(
                "Your IP address is never stored, nor written to the logs. To stop one visitor \
                 from filling the queue, the server keeps a keyed hash of it with each anonymous \
                 request, which says nothing without the server's secret key. That key is \
                 replaced every {address_hash} and the old one deleted, and every hash is erased \
                 with the prompt (below) or after {address_hash} at the latest: after that, not \
                 even the server can tell whose it was."
            ))],
        ),
    ]));
    blocks.push(Block::Heading("Your prompts and results".into(), None));
    blocks.push(Block::List(vec![
        (
            None,
            vec![text(format!(
                "A prompt is stored only until a worker has done the job and you have fetched \
                 the result; prompt and result are then kept {result} more (so that a reload \
                 still shows them) and erased. A request nobody looks at expires after {expiry} \
                 and is erased the same way."
            ))],
        ),
        (
            None,
            vec![text(format!(
                "What remains of a request (the model, the size, the kudos it cost) is kept for \
                 {history} for the queue's figures and then deleted. The public statistics keep \
                 only counts per model and minute, hour or day, never a request."
            ))],
        ),
        (
            None,
            vec![text(
                "Neither prompts nor results, API keys nor addresses are written to the server's \
                 logs: the log is filtered on its way out, whatever wrote to it.",
            )],
        ),
        (
            None,
            vec![text(
                "Workers are run by volunteers, and a worker sees the prompt it works on (it has \
                 to). The prompt goes to them without your name, account or address.",
            )],
        ),
        (
            None,
            vec![
                text(
                    "Every worker says whether it keeps the prompts and results it is given (in \
                     logs, caches or for training); most keep nothing. Tick \"Only workers that \
                     keep nothing\" on a request, or send ",
                ),
                code("workers_keep_nothing"),
                text(" in the API, and the others never see it."),
            ],
        ),
        (
            Some("checks"),
            vec![text(
                "A result from a worker that is not yet trusted may be checked by one more \
                 worker: a trusted one, run by someone other than the first worker's owner, \
                 scores it (or generates it again) for the same prompt. That worker also sees the \
                 prompt, without your name, account or address, and it too keeps nothing when \
                 you asked for workers that keep nothing. What a check stores is numbers, no \
                 text, and it goes with your request.",
            )],
        ),
        (
            Some("ratings"),
            vec![text(
                "Ratings of a shared image request's images are kept with the request, without \
                 who rated, and go with it; nothing is sent to any other site.",
            )],
        ),
    ]));
    blocks.push(Block::Heading("With an account".into(), None));
    let mut account: Vec<(Option<&'static str>, Inline)> = vec![
        (
            None,
            vec![text(
                "An account is a name you choose, a hash of your API key (never the key itself), \
                 your kudos with their history, and counts of what you asked for and \
                 contributed.",
            )],
        ),
        (
            None,
            vec![text(format!(
                "Logging in sets one cookie: a random session id, HttpOnly and SameSite=Strict. \
                 The session on the server holds your key's hash and ends when you log out, or \
                 after {} days unused.",
                r.session_idle_days
            ))],
        ),
        sign_in_facts(r),
        (
            None,
            vec![text(
                "Workers you run are listed publicly by the name you give them, with their \
                 models and the work they did. Styles and collections you make are listed with \
                 your name (a private one is shown to whoever knows its name or id).",
            )],
        ),
        (
            Some("shared-keys"),
            vec![text(
                "A shared key you make is stored as a hash, like your API key, with its name, \
                 limits and what was spent through it; whoever holds it spends your kudos within \
                 its limits, and nothing of who they are is kept.",
            )],
        ),
        (
            None,
            vec![text(
                "Contributing from a browser tab keeps your key and the tab's worker name in \
                 this browser's local storage (not a cookie; they are sent only to this server), \
                 and the model in its cache. Clearing this site's data removes them.",
            )],
        ),
    ];
    account.push((
        None,
        vec![
            text("Your account page (and the API, under "),
            code("/api/v2/users/me"),
            text(
                ") lets you download all of it as JSON, add or remove a contact e-mail, freeze \
                 the account so that nothing is processed for it, and delete it. Deleting removes \
                 your key, name, contact, workers, styles, shared keys and sessions, and the \
                 prompts and results of your requests, at once; only the lines of your kudos \
                 history stay, under the name \"erased\", because the balances of the accounts \
                 you traded kudos with depend on them.",
            ),
        ],
    ));
    blocks.push(Block::List(account));
    blocks.push(Block::Hint(vec![text(
        "This is free software: what is stored can be read in its source, and the operator of \
         this server sets the durations above.",
    )]));
    Document { blocks }
}

/// What signing in through a provider keeps, when the server offers any.
#[cfg(feature = "ssr")]
fn sign_in_facts(r: &RetentionPolicy) -> (Option<&'static str>, Inline) {
    if r.login_providers.is_empty() {
        return (
            Some("pseudonymous"),
            vec![text(
                "Accounts here are pseudonymous: a name and a key. The name and the key stay as \
                 they were made; only a replacement by the operator changes the key.",
            )],
        );
    }
    (
        Some("sign-in-facts"),
        vec![text(format!(
            "You can sign in with {}. Of what the provider knows about you, only the opaque id \
             it has for you (its \"subject\") is kept: not your name, e-mail or picture, even \
             when the provider sends them along. While you sign in, one more cookie (HttpOnly, \
             only for the sign-in's own addresses) holds a random value for at most {}, so that \
             nobody else's sign-in can end in your browser; it is deleted when you are back. Such \
             an account can change its name and get a new API key at any time; a pseudonymous \
             account (a name and a key, made on the Register page) keeps both as they were made.",
            r.login_providers.join(", "),
            duration(r.login_secs)
        ))],
    )
}

/// A duration in the words people use.
#[cfg(feature = "ssr")]
fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} seconds"),
        s if s < 2 * 3600 => format!("{} minutes", s / 60),
        s if s < 2 * 86_400 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(30), "30 seconds");
        assert_eq!(duration(600), "10 minutes");
        assert_eq!(duration(86_400), "24 hours");
        assert_eq!(duration(14 * 86_400), "14 days");
    }

    #[test]
    fn the_statement_states_the_settings_it_is_given() {
        let mut facts = RetentionPolicy::of(&potluck_core::Policy::default(), Vec::new());
        facts.result_secs = 1800;
        let markdown = privacy_document(&facts).to_markdown();
        assert!(markdown.contains("kept 30 minutes more"), "{markdown}");
        assert!(!markdown.contains("private: only accounts"));
        facts.private = true;
        let html = privacy_document(&facts).to_html();
        assert!(html.contains("id=\"private-server\""), "{html}");
    }
}
