//! The moderators' page (`/moderation`): the server's modes, an account looked up by
//! `?user=name#id` (flag, trust, concurrency, signs of suspicion; its workers' pauses and
//! messages), prompt filters, address timeouts and the latest moderation log. Every form posts
//! to a server function, so it works without JavaScript too.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use protocol::{FilterDetails, HordeModes, IpTimeout, ModerationEntry, WorkerDetails};

use super::{loaded, Table};
use crate::api::moderation::{
    moderation_overview, review_account, AccountUnderReview, AddFilter, AddTimeout, DeleteFilter,
    LiftTimeout, MessageWorker, ModerateAccount, ModerationAccess, ModerationView, PauseWorker,
    SetConcurrency, SetMode,
};
use crate::clock::UtcTime;
use crate::forms::{action_error, Field, FormProblem, SubmitButton};

const WORKER_COLUMNS: &[(&str, bool)] = &[
    ("Worker", false),
    ("Suspicion", true),
    ("Checks passed / failed", true),
    ("Pause", false),
    ("Message", false),
];
const SUSPICION_COLUMNS: &[(&str, bool)] =
    &[("When (UTC)", false), ("Sign", false), ("Worker", false)];
const FILTER_COLUMNS: &[(&str, bool)] = &[
    ("Pattern", false),
    ("Type", true),
    ("Description", false),
    ("Replacement", false),
    ("", false),
];
const TIMEOUT_COLUMNS: &[(&str, bool)] = &[("Timeout", false), ("Minutes left", true)];
const LOG_COLUMNS: &[(&str, bool)] = &[
    ("When (UTC)", false),
    ("Who", false),
    ("What", false),
    ("Target", false),
];

/// Everything the page's forms change; each one's result refetches what it shows.
#[derive(Clone, Copy)]
struct Actions {
    mode: ServerAction<SetMode>,
    account: ServerAction<ModerateAccount>,
    concurrency: ServerAction<SetConcurrency>,
    pause: ServerAction<PauseWorker>,
    message: ServerAction<MessageWorker>,
    add_filter: ServerAction<AddFilter>,
    delete_filter: ServerAction<DeleteFilter>,
    add_timeout: ServerAction<AddTimeout>,
    lift_timeout: ServerAction<LiftTimeout>,
}

impl Actions {
    fn new() -> Self {
        Actions {
            mode: ServerAction::new(),
            account: ServerAction::new(),
            concurrency: ServerAction::new(),
            pause: ServerAction::new(),
            message: ServerAction::new(),
            add_filter: ServerAction::new(),
            delete_filter: ServerAction::new(),
            add_timeout: ServerAction::new(),
            lift_timeout: ServerAction::new(),
        }
    }

    /// Changes so far, so that a resource that reads it refetches after each.
    fn versions(&self) -> [usize; 9] {
        [
            self.mode.version().get(),
            self.account.version().get(),
            self.concurrency.version().get(),
            self.pause.version().get(),
            self.message.version().get(),
            self.add_filter.version().get(),
            self.delete_filter.version().get(),
            self.add_timeout.version().get(),
            self.lift_timeout.version().get(),
        ]
    }
}

#[component]
pub fn ModerationPage() -> impl IntoView {
    let actions = Actions::new();
    let overview = Resource::new(move || actions.versions(), |_| moderation_overview());
    view! {
        <Title text="Moderation" />
        <section class="page">
            <h1>"Moderation"</h1>
            {loaded(overview, "Loading…", move |access| match access {
                ModerationAccess::Moderator(view) => view! { <Moderation view=*view actions /> }.into_any(),
                ModerationAccess::NotModerator => view! {
                    <p>"This page is for moderators."</p>
                }.into_any(),
                ModerationAccess::SignedOut => view! {
                    <p>"This page is for moderators. " <A href="/login">"Log in"</A> "."</p>
                }.into_any(),
            })}
        </section>
    }
}

#[component]
fn Moderation(view: ModerationView, actions: Actions) -> impl IntoView {
    view! {
        <Modes modes=view.modes admin=view.admin action=actions.mode />
        <Review actions />
        <Filters filters=view.filters actions />
        <Timeouts timeouts=view.timeouts actions />
        <Log entries=view.log />
    }
}

#[component]
fn Modes(modes: HordeModes, admin: bool, action: ServerAction<SetMode>) -> impl IntoView {
    let error = action_error(action);
    let modes = [
        (
            "maintenance",
            "Maintenance: no new requests",
            modes.maintenance_mode,
            admin,
        ),
        (
            "invite_only",
            "Invite only: only invited owners add workers",
            modes.invite_only_mode,
            true,
        ),
        (
            "raid",
            "Raid: new and anonymous accounts limited harder",
            modes.raid_mode,
            true,
        ),
    ];
    let rows = modes
        .into_iter()
        .map(|(mode, label, on, allowed)| {
            let on = on.unwrap_or(false);
            view! {
                <li data-mode=mode>
                    <ActionForm action attr:class="inline">
                        <input type="hidden" name="mode" value=mode />
                        <input type="hidden" name="on" value=(!on).to_string() />
                        <span>{label} ": " <strong>{if on { "on" } else { "off" }}</strong> " "</span>
                        <button type="submit" class="button small" disabled=!allowed aria-pressed=on.to_string()>
                            {if on { "Turn off" } else { "Turn on" }}
                        </button>
                    </ActionForm>
                </li>
            }
        })
        .collect_view();
    view! {
        <h2>"Modes"</h2>
        <FormProblem error fields=&[] />
        <ul class="plain" id="modes">{rows}</ul>
    }
}

/// The lookup form, and the account it names (`?user=`), refetched after each change to it.
#[component]
fn Review(actions: Actions) -> impl IntoView {
    let query = use_query_map();
    let user = move || query.read().get("user").unwrap_or_default();
    let reviewed = Resource::new(
        move || (user(), actions.versions()),
        |(user, _)| async move {
            match user.trim() {
                "" => Ok(None),
                user => review_account(user.to_string()).await.map(Some),
            }
        },
    );
    view! {
        <h2>"Accounts"</h2>
        <Form method="GET" action="/moderation" attr:class="form inline-form" attr:id="review-form">
            <div class="field">
                <label for="user">"Account (name#number)"</label>
                <input type="text" id="user" name="user" value=user />
            </div>
            <button type="submit" class="button">"Look up"</button>
        </Form>
        {loaded(reviewed, "Looking up…", move |reviewed| {
            reviewed.map(|reviewed| view! { <Reviewed reviewed actions /> })
        })}
    }
}

#[component]
fn Reviewed(reviewed: AccountUnderReview, actions: Actions) -> impl IntoView {
    let user = reviewed.details;
    let id = user.id;
    let error = action_error(actions.account);
    let concurrency_error = action_error(actions.concurrency);
    let change = move |change: &'static str, label: &'static str| {
        view! {
            <ActionForm action=actions.account attr:class="inline">
                <input type="hidden" name="user_id" value=id />
                <input type="hidden" name="change" value=change />
                <button type="submit" class="button small" data-change=change>{label}</button>
            </ActionForm>
        }
    };
    let signs = reviewed
        .suspicions
        .into_iter()
        .map(|sign| {
            let at = UtcTime::from_unix(u64::try_from(sign.at).unwrap_or_default());
            view! {
                <tr data-reason=sign.reason>
                    <td>{format!("{} {}", at.date(), at.clock())}</td>
                    <td>{sign.description}</td>
                    <td>{sign.worker_name.or(sign.worker_id).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <article class="card" id="reviewed" data-user=id>
            <h3>{user.username.clone()}</h3>
            <p id="reviewed-state">
                {if user.flagged { "Flagged" } else { "Not flagged" }} " · "
                {if user.trusted { "trusted" } else { "not trusted" }} " · "
                "suspicion " <strong id="reviewed-suspicion">{user.suspicious.unwrap_or(0)}</strong> " · "
                "concurrency " {user.concurrency}
            </p>
            <FormProblem error fields=&[] />
            <p class="actions">
                {if user.flagged { change("unflag", "Unflag") } else { change("flag", "Flag") }}
                {if user.trusted { change("untrust", "Withdraw trust") } else { change("trust", "Trust") }}
                {change("reset_suspicion", "Reset suspicion")}
            </p>
            <ActionForm action=actions.concurrency attr:class="form inline-form" attr:novalidate=true>
                <FormProblem error=concurrency_error fields=&["concurrency"] />
                <input type="hidden" name="user_id" value=id />
                <Field label="Concurrency" name="concurrency" api_field="concurrency" error=concurrency_error>
                    <input type="number" id="concurrency" name="concurrency" value=user.concurrency aria-describedby="concurrency-error" />
                </Field>
                <SubmitButton label="Set" busy="Setting…" pending=actions.concurrency.pending() id="set-concurrency" class="button" />
            </ActionForm>
            <h4>"Signs of suspicion"</h4>
            <Table columns=SUSPICION_COLUMNS id="suspicions">{signs}</Table>
            <ReviewedWorkers workers=reviewed.workers actions />
        </article>
    }
}

#[component]
fn ReviewedWorkers(workers: Vec<WorkerDetails>, actions: Actions) -> impl IntoView {
    let error = action_error(actions.pause);
    let message_error = action_error(actions.message);
    let rows = workers
        .into_iter()
        .map(|w| {
            let paused = w.paused.unwrap_or(false);
            let (pause_id, message_id, row_name) = (w.id.clone(), w.id, w.name.clone());
            view! {
                <tr data-worker=row_name>
                    <th scope="row">{w.name}</th>
                    <td class="num">{w.suspicious.unwrap_or(0)}</td>
                    <td class="num">{w.checks_passed} " / " {w.checks_failed}</td>
                    <td>
                        <ActionForm action=actions.pause attr:class="inline">
                            <input type="hidden" name="worker" value=pause_id />
                            <input type="hidden" name="paused" value=(!paused).to_string() />
                            <button type="submit" class="button small" aria-pressed=paused.to_string()>
                                {if paused { "Paused: lift" } else { "Pause" }}
                            </button>
                        </ActionForm>
                    </td>
                    <td>
                        <ActionForm action=actions.message attr:class="inline">
                            <input type="hidden" name="worker" value=message_id />
                            <input type="hidden" name="expiry" value="12" />
                            <input type="text" name="message" aria-label="Message" />
                            <button type="submit" class="button small">"Send"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h4>"Workers"</h4>
        <FormProblem error fields=&[] />
        <FormProblem error=message_error fields=&[] />
        {move || actions.message.value().get().and_then(Result::ok).map(|_| view! {
            <p class="notice" role="status" id="message-sent">"Message sent."</p>
        })}
        <Table columns=WORKER_COLUMNS id="reviewed-workers">{rows}</Table>
    }
}

#[component]
fn Filters(filters: Vec<FilterDetails>, actions: Actions) -> impl IntoView {
    let error = action_error(actions.add_filter);
    let delete_error = action_error(actions.delete_filter);
    let rows = filters
        .into_iter()
        .map(|f| {
            let row_id = f.id.clone();
            view! {
                <tr data-filter=row_id>
                    <td><code>{f.regex}</code></td>
                    <td class="num">{f.filter_type}</td>
                    <td>{f.description.unwrap_or_default()}</td>
                    <td>{f.replacement}</td>
                    <td>
                        <ActionForm action=actions.delete_filter attr:class="inline">
                            <input type="hidden" name="id" value=f.id />
                            <button type="submit" class="button small">"Delete"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Prompt filters"</h2>
        <p class="hint">
            "An image prompt matching a filter of type 10 or 11 (minors) and one of type 20 \
             (sexual) is refused, or has its type-10 matches replaced when the request allows it."
        </p>
        <FormProblem error=delete_error fields=&[] />
        <Table columns=FILTER_COLUMNS id="filters">{rows}</Table>
        <ActionForm action=actions.add_filter attr:class="form" attr:id="filter-form" attr:novalidate=true>
            <FormProblem error fields=&["regex", "filter_type"] />
            <Field label="Pattern (regular expression)" name="regex" api_field="regex" error>
                <input type="text" id="regex" name="regex" aria-describedby="regex-error" />
            </Field>
            <Field label="Type (10, 11 or 20)" name="filter_type" api_field="filter_type" error>
                <input type="number" id="filter_type" name="filter_type" value="10" aria-describedby="filter_type-error" />
            </Field>
            <Field label="Description" name="description" api_field="description" error>
                <input type="text" id="description" name="description" />
            </Field>
            <Field label="Replacement" name="replacement" api_field="replacement" error>
                <input type="text" id="replacement" name="replacement" />
            </Field>
            <SubmitButton label="Add filter" busy="Adding…" pending=actions.add_filter.pending() id="add-filter" class="button" />
        </ActionForm>
    }
}

#[component]
fn Timeouts(timeouts: Vec<IpTimeout>, actions: Actions) -> impl IntoView {
    let error = action_error(actions.add_timeout);
    let lift_error = action_error(actions.lift_timeout);
    let rows = timeouts
        .into_iter()
        .map(|t| {
            view! {
                <tr>
                    <td>{t.ipaddr}</td>
                    <td class="num">{(t.seconds + 59) / 60}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Address timeouts"</h2>
        <p class="hint">
            "Addresses are never stored: a timeout keeps keyed hashes of the address, so the list \
             names each by its number. Type an address again to lift its timeouts."
        </p>
        <Table columns=TIMEOUT_COLUMNS id="timeouts">{rows}</Table>
        <ActionForm action=actions.add_timeout attr:class="form inline-form" attr:id="timeout-form" attr:novalidate=true>
            <FormProblem error fields=&["ipaddr", "hours"] />
            <Field label="Address" name="ipaddr" api_field="ipaddr" error>
                <input type="text" id="ipaddr" name="ipaddr" aria-describedby="ipaddr-error" />
            </Field>
            <Field label="Hours" name="hours" api_field="hours" error>
                <input type="number" id="hours" name="hours" value="24" aria-describedby="hours-error" />
            </Field>
            <SubmitButton label="Time out" busy="Saving…" pending=actions.add_timeout.pending() id="add-timeout" class="button" />
        </ActionForm>
        <ActionForm action=actions.lift_timeout attr:class="form inline-form" attr:id="lift-form" attr:novalidate=true>
            <FormProblem error=lift_error fields=&[] />
            <div class="field">
                <label for="lift-ipaddr">"Address"</label>
                <input type="text" id="lift-ipaddr" name="ipaddr" />
            </div>
            <SubmitButton label="Lift" busy="Lifting…" pending=actions.lift_timeout.pending() id="lift-timeout" class="button" />
        </ActionForm>
    }
}

#[component]
fn Log(entries: Vec<ModerationEntry>) -> impl IntoView {
    let rows = entries
        .into_iter()
        .map(|e| {
            let at = UtcTime::from_unix(u64::try_from(e.at).unwrap_or_default());
            view! {
                <tr>
                    <td>{format!("{} {}", at.date(), at.clock())}</td>
                    <td>{e.actor}</td>
                    <td>{e.action}</td>
                    <td>{e.target}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Moderation log"</h2>
        <Table columns=LOG_COLUMNS id="moderation-log">{rows}</Table>
    }
}
