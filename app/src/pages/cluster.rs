//! The public picture of the cluster: the models, workers and status pages, built from the same
//! figures as the API's `/status/models`, `/workers`, `/status/performance` and `/status/modes`.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use protocol::{ActiveModel, WorkerDetails};

use super::{loaded, Stat, Table};
use crate::api::cluster::{all_models, cluster_status, online_workers, ClusterFigures};
use crate::figures::format_wait;
use crate::live::ticks;

/// How often these pages refresh themselves once hydrated.
const REFRESH_EVERY: Duration = Duration::from_secs(15);

#[component]
pub fn ModelsPage() -> impl IntoView {
    let tick = ticks(REFRESH_EVERY);
    let models = Resource::new(move || tick.get(), |_| all_models());
    view! {
        <Title text="Models" />
        <section class="page">
            <h1>"Models"</h1>
            <p class="lead">"The models that workers online serve right now, and how long their queues are."</p>
            {loaded(models, "Loading the models…", |models| view! { <ModelTable models /> })}
        </section>
    }
}

/// The models table, also on the home page.
#[component]
pub fn ModelTable(models: Vec<ActiveModel>) -> impl IntoView {
    if models.is_empty() {
        return view! {
            <p class="empty">
                "No models are being served right now. " <A href="/contribute">"Run a worker"</A>
                " to change that."
            </p>
        }
        .into_any();
    }
    let rows = models
        .into_iter()
        .map(|m| {
            view! {
                <tr>
                    <th scope="row">{m.name}</th>
                    <td>{m.kind.as_str()}</td>
                    <td class="num">{m.count}</td>
                    <td class="num">{m.jobs.round() as i64}</td>
                    <td class="num">{format_wait(m.jobs, m.eta)}</td>
                </tr>
            }
        })
        .collect_view();
    const COLUMNS: &[(&str, bool)] = &[
        ("Model", false),
        ("Kind", false),
        ("Workers", true),
        ("Jobs waiting", true),
        ("Estimated wait", true),
    ];
    view! { <Table columns=COLUMNS caption="Models being served">{rows}</Table> }.into_any()
}

#[component]
pub fn WorkersPage() -> impl IntoView {
    let tick = ticks(REFRESH_EVERY);
    let workers = Resource::new(move || tick.get(), |_| online_workers());
    view! {
        <Title text="Workers" />
        <section class="page">
            <h1>"Workers"</h1>
            <p class="lead">
                "The volunteers' workers online now. Each is named by its owner; owners are shown \
                 only by their choice of name."
            </p>
            {loaded(workers, "Loading the workers…", |workers| view! { <WorkerTable workers /> })}
        </section>
    }
}

#[component]
fn WorkerTable(workers: Vec<WorkerDetails>) -> impl IntoView {
    if workers.is_empty() {
        return view! {
            <p class="empty">"No worker is online right now. " <A href="/contribute">"Run one"</A></p>
        }
        .into_any();
    }
    let rows = workers
        .into_iter()
        .map(|w| {
            let state = match (w.maintenance_mode, w.paused) {
                (true, _) => "maintenance",
                (_, Some(true)) => "paused",
                _ => "taking jobs",
            };
            view! {
                <tr>
                    <th scope="row">{w.name}</th>
                    <td>{w.kind.as_str()}</td>
                    <td>{w.models.join(", ")}</td>
                    <td class="num">{w.requests_fulfilled}</td>
                    <td class="num">{w.checks_passed} " / " {w.checks_failed}</td>
                    <td>{if w.trusted { "trusted" } else { "verified by checks" }}</td>
                    <td class="num">{w.performance}</td>
                    <td class="num">{format_uptime(w.uptime)}</td>
                    <td>{state}{w.keeps_prompts.then_some(", keeps prompts")}</td>
                </tr>
            }
        })
        .collect_view();
    const COLUMNS: &[(&str, bool)] = &[
        ("Name", false),
        ("Kind", false),
        ("Models", false),
        ("Jobs done", true),
        ("Checks passed / failed", true),
        ("Trust", false),
        ("Speed", true),
        ("Uptime", true),
        ("State", false),
    ];
    view! { <Table columns=COLUMNS id="workers">{rows}</Table> }.into_any()
}

#[component]
pub fn StatusPage() -> impl IntoView {
    let tick = ticks(REFRESH_EVERY);
    let status = Resource::new(move || tick.get(), |_| cluster_status());
    view! {
        <Title text="Status" />
        <section class="page">
            <h1>"Status"</h1>
            {loaded(status, "Loading the status…", |status| view! { <Status status /> })}
        </section>
    }
}

#[component]
fn Status(status: ClusterFigures) -> impl IntoView {
    let ClusterFigures {
        performance: p,
        modes,
    } = status;
    // Raid mode is not said: it is shown to moderators only, so as not to inform attackers.
    let mode = if modes.maintenance_mode == Some(true) {
        "Maintenance: new requests are refused for now."
    } else if modes.invite_only_mode == Some(true) {
        "Invite only: only invited accounts may run workers."
    } else {
        "Open: everyone may ask and anyone may contribute."
    };
    view! {
        <p class="lead" id="mode">{mode}</p>
        <h2>"Text"</h2>
        <dl class="stats">
            <Stat label="Workers online" value=p.text_worker_count.to_string() />
            <Stat label="Threads" value=p.text_thread_count.to_string() />
            <Stat label="Requests waiting" value=p.queued_text_requests.to_string() />
            <Stat label="Tokens waiting" value=format!("{:.0}", p.queued_tokens) />
            <Stat label="Tokens in the past minute" value=format!("{:.0}", p.past_minute_tokens) />
        </dl>
        <h2>"Images"</h2>
        <dl class="stats">
            <Stat label="Workers online" value=p.worker_count.to_string() />
            <Stat label="Threads" value=p.thread_count.to_string() />
            <Stat label="Requests waiting" value=p.queued_requests.to_string() />
            <Stat label="Megapixel-steps waiting" value=format!("{:.1}", p.queued_megapixelsteps) />
            <Stat label="Megapixel-steps in the past minute" value=format!("{:.1}", p.past_minute_megapixelsteps) />
        </dl>
        <p class="hint">
            "The same figures, as JSON: " <a href="/api/v2/status/performance">"/api/v2/status/performance"</a>
            " and " <a href="/api/v2/status/modes">"/api/v2/status/modes"</a> "."
        </p>
    }
}

/// Seconds of uptime, in the largest unit that fits.
fn format_uptime(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_in_one_unit() {
        assert_eq!(format_uptime(5), "5 s");
        assert_eq!(format_uptime(125), "2 min");
        assert_eq!(format_uptime(7300), "2 h");
        assert_eq!(format_uptime(200_000), "2 days");
    }
}
