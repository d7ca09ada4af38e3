//! The account page's shared keys, teams and messages for one's workers.

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::account::format_kudos;
use super::{loaded, Table};
use crate::api::sharing::{
    sharing, CreateSharedKey, CreateTeam, DeleteSharedKey, MessageLine, SharedKeyLine, TeamLine,
};
use crate::clock::UtcTime;
use crate::forms::{action_error, Field, FormProblem, SubmitButton};
use crate::live::CopyButton;

const KEY_COLUMNS: &[(&str, bool)] = &[
    ("Name", false),
    ("Kudos left", true),
    ("Spent", true),
    ("Expires (UTC)", false),
    ("", false),
];
const TEAM_COLUMNS: &[(&str, bool)] = &[("Team", false), ("Workers", true), ("Jobs done", true)];
const MESSAGE_COLUMNS: &[(&str, bool)] =
    &[("For", false), ("Message", false), ("Expires in", true)];

/// Shared keys, teams and messages, refetched after each change this part makes.
#[component]
pub fn SharingSections() -> impl IntoView {
    let create_key = ServerAction::<CreateSharedKey>::new();
    let delete_key = ServerAction::<DeleteSharedKey>::new();
    let create_team = ServerAction::<CreateTeam>::new();
    let sharing = Resource::new(
        move || {
            (
                create_key.version().get(),
                delete_key.version().get(),
                create_team.version().get(),
            )
        },
        |_| sharing(),
    );
    view! {
        {loaded(sharing, "Loading your keys and teams…", move |sharing| {
            sharing.map(|sharing| view! {
                <SharedKeys keys=sharing.shared_keys create_key delete_key />
                <Teams teams=sharing.teams create_team />
                <Messages messages=sharing.messages />
            })
        })}
    }
}

#[component]
fn SharedKeys(
    keys: Vec<SharedKeyLine>,
    create_key: ServerAction<CreateSharedKey>,
    delete_key: ServerAction<DeleteSharedKey>,
) -> impl IntoView {
    let error = action_error(create_key);
    let delete_error = action_error(delete_key);
    let created = move || create_key.value().get().and_then(Result::ok);
    let rows = keys
        .into_iter()
        .map(|key| {
            let expires = key.expires.map(UtcTime::from_unix);
            view! {
                <tr data-shared-key=key.id>
                    <th scope="row">{key.name.unwrap_or_else(|| "(no name)".into())}</th>
                    <td class="num">{key.kudos_left.map_or_else(|| "no limit".into(), format_kudos)}</td>
                    <td class="num">{format_kudos(key.spent)}</td>
                    <td>{expires.map_or_else(|| "never".into(), |at| format!("{} {}", at.date(), at.clock()))}</td>
                    <td>
                        <ActionForm action=delete_key attr:class="inline">
                            <input type="hidden" name="id" value=key.id />
                            <button type="submit" class="button small">"Delete"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Shared keys"</h2>
        <p class="hint">
            "A shared key lends your kudos to whoever holds it, within the limit you set: their \
             requests queue as yours. Deleting it cancels what it queued that nobody took yet."
        </p>
        <FormProblem error=delete_error fields=&[] />
        <Table columns=KEY_COLUMNS id="shared-keys">{rows}</Table>
        <ActionForm action=create_key attr:class="form inline-form" attr:id="shared-key-form" attr:novalidate=true>
            <FormProblem error fields=&["name", "kudos", "expiry"] />
            <Field label="Name" name="shared-key-name" api_field="name" error>
                <input type="text" id="shared-key-name" name="name" aria-describedby="shared-key-name-error" />
            </Field>
            <Field label="Kudos it may spend (-1: no limit)" name="shared-key-kudos" api_field="kudos" error>
                <input type="number" id="shared-key-kudos" name="kudos" value="5000" min="-1"
                    aria-describedby="shared-key-kudos-error" />
            </Field>
            <Field label="Expires after (days, empty: never)" name="shared-key-expiry" api_field="expiry" error>
                <input type="number" id="shared-key-expiry" name="expiry_days" min="1"
                    aria-describedby="shared-key-expiry-error" />
            </Field>
            <SubmitButton label="Create a key" busy="Creating…" pending=create_key.pending() id="create-shared-key" class="button" />
        </ActionForm>
        {move || created().map(|key| view! {
            <div class="key-box" role="status" id="new-shared-key">
                <p><code class="key">{key.clone()}</code></p>
                <CopyButton text=key label="Copy the key" id="copy-shared-key" />
                <p class="warning">"It is shown only this once: Potluck keeps only its hash."</p>
            </div>
        })}
    }
}

#[component]
fn Teams(teams: Vec<TeamLine>, create_team: ServerAction<CreateTeam>) -> impl IntoView {
    let error = action_error(create_team);
    let rows = teams
        .into_iter()
        .map(|team| {
            view! {
                <tr data-team=team.id>
                    <th scope="row">{team.name}</th>
                    <td class="num">{team.workers}</td>
                    <td class="num">{team.requests_fulfilled}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Your teams"</h2>
        <p class="hint">
            "A team groups workers, yours and others', and counts their work together. Trusted \
             accounts create teams; a worker joins one through its owner's "
            <code>"PUT /api/v2/workers/{id}"</code> " with " <code>"team"</code> "."
        </p>
        <Table columns=TEAM_COLUMNS id="teams">{rows}</Table>
        <ActionForm action=create_team attr:class="form inline-form" attr:id="team-form" attr:novalidate=true>
            <FormProblem error fields=&["name", "info"] />
            <Field label="Team name" name="team-name" api_field="name" error>
                <input type="text" id="team-name" name="name" aria-describedby="team-name-error" />
            </Field>
            <Field label="About it" name="team-info" api_field="info" error>
                <input type="text" id="team-info" name="info" aria-describedby="team-info-error" />
            </Field>
            <SubmitButton label="Create a team" busy="Creating…" pending=create_team.pending() id="create-team" class="button" />
        </ActionForm>
    }
}

#[component]
fn Messages(messages: Vec<MessageLine>) -> impl IntoView {
    if messages.is_empty() {
        return view! {
            <h2>"Messages for your workers"</h2>
            <p class="empty" id="no-messages">"None: moderators write here when one of your workers needs attention."</p>
        }
        .into_any();
    }
    let rows = messages
        .into_iter()
        .map(|m| {
            view! {
                <tr>
                    <td>{m.worker.unwrap_or_else(|| "all your workers".into())}</td>
                    <td>{m.message}</td>
                    <td class="num">{m.expiry_hours} " h"</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Messages for your workers"</h2>
        <Table columns=MESSAGE_COLUMNS id="worker-messages">{rows}</Table>
    }
    .into_any()
}
