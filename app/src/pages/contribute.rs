//! How to lend a machine to the cluster: this browser tab (WebGPU), or a worker program.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use protocol::contribute::{BrowserModel, Phase, WorkerReport};

use super::{loaded, Stat};
use crate::api::contribute::browser_model;

#[component]
pub fn Contribute() -> impl IntoView {
    let model = Resource::new(|| (), |_| browser_model());
    view! {
        <Title text="Contribute" />
        <section class="page prose">
            <h1>"Contribute"</h1>
            <p class="lead">
                "Potluck runs on volunteers' machines. Lend yours and your account earns kudos for \
                 every job it finishes; kudos move your own requests ahead in the queue."
            </p>
            <h2>"From this browser tab"</h2>
            {loaded(model, "Looking for the model…", |model| match model {
                Some(model) => view! { <FromThisTab model /> }.into_any(),
                None => view! {
                    <p class="notice">
                        "This server offers no model for browsers. Run a worker on your machine \
                         instead (below)."
                    </p>
                }.into_any(),
            })}
            <h2>"Run a worker"</h2>
            <ol>
                <li><A href="/register">"Register"</A> " (a name, nothing more) and keep the key."</li>
                <li>
                    "From a clone of Potluck's source, build the worker and start it with a model; \
                     it runs on any Vulkan, Metal or DX12 GPU:"
                    <pre><code>"cargo build --release -p worker\n\
    POTLUCK_API_KEY=YOUR_KEY target/release/potluck-worker \\\n    --server THIS_SITE --name my-box \\\n    --model \"$(scripts/fetch-smollm2.sh)\""</code></pre>
                </li>
                <li>
                    "Or bridge the OpenAI-compatible server you already run (llama.cpp, vLLM, Ollama, \
                     KoboldCpp): " <code>"--backend openai --backend-url http://127.0.0.1:8081/v1"</code> "."
                </li>
            </ol>
            <p>
                "Ctrl-C once finishes the current job and stops; your worker then shows in "
                <A href="/account">"your account"</A> ", where you can pause it for maintenance."
            </p>
        </section>
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The browser worker: what it does, the account it earns for, and its controls.
#[component]
fn FromThisTab(model: BrowserModel) -> impl IntoView {
    let state = TabState::new();
    #[cfg(feature = "hydrate")]
    state.watch();
    let size = megabytes(model.bytes);
    view! {
        <p>
            "This tab can serve text requests itself: Potluck's engine runs "
            <strong id="browser-model">{model.name.clone()}</strong>
            ", a small language model, on this device's GPU through WebGPU, in a background \
             worker so the page stays responsive. It takes one request at a time from the queue \
             and sends the text back; your account earns kudos for each."
        </p>
        <ul>
            <li>"It downloads " <strong id="model-size">{size}</strong> " once; the browser keeps the \
                 model for your next visit (clearing this site's data removes it)."</li>
            <li>"It runs only while this page is open, and only after you press Start. Stop ends it \
                 after the current request; press Stop again to end it at once."</li>
            <li>"Browser workers are marked untrusted: they only get requests that accept \
                 untrusted workers."</li>
        </ul>
        <noscript><p class="notice">"Contributing from this tab needs JavaScript."</p></noscript>
        <ContributorAccount state />
        <Controls state model />
        <Report state />
    }
}

/// What the tab's contribution is doing, shared by its parts.
#[derive(Clone, Copy)]
struct TabState {
    /// Why this browser cannot contribute, once checked.
    unsupported: RwSignal<Option<String>>,
    checked: RwSignal<bool>,
    account: RwSignal<Option<crate::contributor::SavedAccount>>,
    report: RwSignal<Option<WorkerReport>>,
    pause_when_hidden: RwSignal<bool>,
    /// Paused because the tab was hidden (so showing it again resumes).
    #[cfg(feature = "hydrate")]
    paused_while_hidden: RwSignal<bool>,
    #[cfg(feature = "hydrate")]
    worker: StoredValue<Option<crate::contributor::Contributor>, LocalStorage>,
}

impl TabState {
    fn new() -> Self {
        TabState {
            unsupported: RwSignal::new(None),
            checked: RwSignal::new(false),
            account: RwSignal::new(None),
            report: RwSignal::new(None),
            pause_when_hidden: RwSignal::new(true),
            #[cfg(feature = "hydrate")]
            paused_while_hidden: RwSignal::new(false),
            #[cfg(feature = "hydrate")]
            worker: StoredValue::new_local(None),
        }
    }

    fn phase(&self) -> Option<Phase> {
        self.report.with(|r| r.as_ref().map(|r| r.phase.clone()))
    }

    /// A worker is running (from its start until its last report).
    fn running(&self) -> bool {
        self.phase().is_some_and(|phase| !phase.is_over())
    }
}

#[cfg(feature = "hydrate")]
impl TabState {
    /// In the browser: the kept account, the WebGPU check, the tab's visibility, and the end of
    /// a worker.
    fn watch(self) {
        Effect::new(move |_| {
            self.account.set(crate::contributor::saved_account());
            leptos::task::spawn_local(async move {
                self.unsupported
                    .set(crate::contributor::webgpu_missing().await);
                self.checked.set(true);
            });
        });
        // A worker that ended is let go here, not in its own message handler.
        Effect::new(move |_| {
            if self
                .report
                .with(|r| r.as_ref().is_some_and(|r| r.phase.is_over()))
            {
                self.worker.set_value(None);
            }
        });
        let visibility = window_event_listener(leptos::ev::visibilitychange, move |_| {
            let hidden = document().hidden();
            let phase = self.phase();
            if hidden && self.pause_when_hidden.get_untracked() && phase == Some(Phase::Serving) {
                self.paused_while_hidden.set(true);
                self.send(&protocol::contribute::ToWorker::Pause);
            } else if !hidden && self.paused_while_hidden.get_untracked() {
                self.paused_while_hidden.set(false);
                self.send(&protocol::contribute::ToWorker::Resume);
            }
        });
        on_cleanup(move || visibility.remove());
    }

    fn send(&self, message: &protocol::contribute::ToWorker) {
        self.worker.with_value(|worker| {
            if let Some(worker) = worker {
                worker.send(message);
            }
        });
    }

    fn start(self, model: BrowserModel) {
        let Some(account) = self.account.get_untracked() else {
            return;
        };
        let report = self.report;
        let on_failure = move |message| {
            report.set(Some(WorkerReport {
                phase: Phase::Failed { message },
                ..WorkerReport::default()
            }))
        };
        let spawned =
            crate::contributor::Contributor::spawn(move |r| report.set(Some(r)), on_failure);
        match spawned {
            Ok(worker) => {
                report.set(Some(WorkerReport::default()));
                worker.send(&protocol::contribute::ToWorker::Start(
                    protocol::contribute::StartContributing {
                        server: window().location().origin().unwrap_or_default(),
                        api_key: account.apikey,
                        worker_name: crate::contributor::worker_name(),
                        model,
                    },
                ));
                self.worker.set_value(Some(worker));
            }
            Err(message) => on_failure(message),
        }
    }
}

/// The account the tab earns for: kept in this browser, made in one click, or an existing key.
#[component]
fn ContributorAccount(state: TabState) -> impl IntoView {
    let register = Action::new_local(|_: &()| crate::contributor::register_contributor());
    let key_input = RwSignal::new(String::new());
    let use_key =
        Action::new_local(move |key: &String| crate::contributor::use_contributor_key(key.clone()));
    let error = RwSignal::new(None::<String>);
    let new_key = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let finished = register.value().get().or_else(|| use_key.value().get());
        match finished {
            Some(Ok(account)) => {
                error.set(None);
                state.account.set(Some(account));
            }
            Some(Err(message)) => error.set(Some(message)),
            None => {}
        }
    });
    // Registering also signs the browser in: the header should say so.
    let changed = use_context::<super::SessionChanged>().unwrap_or_default();
    Effect::new(move |_| {
        if let Some(Ok(account)) = register.value().get() {
            new_key.set(Some(account.apikey));
            changed.bump();
        }
    });
    let forget = move |_| {
        #[cfg(feature = "hydrate")]
        crate::contributor::forget_account();
        state.account.set(None);
        new_key.set(None);
    };
    view! {
        <div class="contributor-account" id="contributor-account">
            {move || match state.account.get() {
                Some(account) => view! {
                    <p>
                        "Contributing as " <strong id="contributor-name">{account.alias}</strong>
                        ". The key is kept in this browser only. "
                        <button type="button" class="link-button" id="forget-key" on:click=forget
                            disabled=move || state.running()>"Forget it"</button>
                    </p>
                }.into_any(),
                None => view! {
                    <p>"Contributing needs an account, which earns the kudos. One click makes a new \
                        one (a generated name, nothing else), or use the key you have."</p>
                    <p>
                        <button type="button" class="button" id="register-contributor"
                            disabled=move || register.pending().get()
                            on:click=move |_| { register.dispatch(()); }>
                            "Create a contributor account"
                        </button>
                    </p>
                    <form class="form inline-form" on:submit=move |ev| {
                        ev.prevent_default();
                        use_key.dispatch(key_input.get_untracked());
                    }>
                        <div class="field">
                            <label for="contributor-key">"Or your API key"</label>
                            <input type="password" id="contributor-key" autocomplete="current-password"
                                bind:value=key_input />
                        </div>
                        <button type="submit" class="button" id="use-key">"Use this key"</button>
                    </form>
                }.into_any(),
            }}
            {move || error.get().map(|message| view! {
                <p class="error" role="alert" id="contributor-error">{message}</p>
            })}
            {move || new_key.get().map(|key| view! {
                <div class="key-box" role="status" id="contributor-new-key">
                    <p>"Your new account's API key, for this and other browsers and AI Horde clients:"</p>
                    <p><code class="key" id="contributor-apikey">{key.clone()}</code></p>
                    <crate::live::CopyButton text=key label="Copy the key" />
                    <p class="warning">"It is kept in this browser, and shown only now: copy it \
                        to keep the account if this browser forgets it."</p>
                </div>
            })}
        </div>
    }
}

/// Start, pause and resume, stop; and the setting to pause while the tab is hidden.
#[component]
fn Controls(state: TabState, model: BrowserModel) -> impl IntoView {
    let can_start = move || {
        state.checked.get()
            && state.unsupported.with(Option::is_none)
            && state.account.with(Option::is_some)
            && !state.running()
    };
    let phase = move || state.phase();
    let start = move |_| {
        #[cfg(feature = "hydrate")]
        state.start(model.clone());
        #[cfg(not(feature = "hydrate"))]
        let _ = &model;
    };
    let pause_or_resume = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use protocol::contribute::ToWorker;
            state.paused_while_hidden.set(false);
            match state.phase() {
                Some(Phase::Paused) => state.send(&ToWorker::Resume),
                _ => state.send(&ToWorker::Pause),
            }
        }
    };
    let stop = move |_| {
        #[cfg(feature = "hydrate")]
        state.send(&protocol::contribute::ToWorker::Stop);
    };
    view! {
        {move || state.unsupported.get().map(|message| view! {
            <p class="notice" role="alert" id="webgpu-missing">{message}</p>
        })}
        <div class="actions contribution-controls">
            <button type="button" class="button primary" id="start-contributing"
                disabled=move || !can_start() on:click=start>"Start"</button>
            <button type="button" class="button" id="pause-contributing"
                disabled=move || !matches!(phase(), Some(Phase::Serving | Phase::Paused))
                on:click=pause_or_resume>
                {move || if phase() == Some(Phase::Paused) { "Resume" } else { "Pause" }}
            </button>
            <button type="button" class="button" id="stop-contributing"
                disabled=move || !state.running() on:click=stop>
                {move || if phase() == Some(Phase::Finishing) { "Stop now" } else { "Stop" }}
            </button>
            <label class="check-label">
                <input type="checkbox" id="pause-when-hidden" bind:checked=state.pause_when_hidden />
                " Pause while this tab is hidden"
            </label>
        </div>
    }
}

fn phase_text(phase: &Phase) -> String {
    match phase {
        Phase::Checking => "Checking this device's GPU…".into(),
        Phase::Downloading { received, total } => format!(
            "Downloading the model: {} of {}",
            megabytes(*received),
            megabytes(*total)
        ),
        Phase::Loading => "Loading the model onto the GPU and measuring its speed…".into(),
        Phase::Serving => "Serving: waiting for requests and answering them.".into(),
        Phase::Finishing => "Finishing the current request…".into(),
        Phase::Paused => "Paused: the model stays loaded; Resume takes requests again.".into(),
        Phase::Stopped => "Stopped. Thank you!".into(),
        Phase::Unsupported { message } => message.clone(),
        Phase::Failed { message } => format!("Stopped by a problem: {message}"),
    }
}

/// What the worker is doing and has done.
#[component]
fn Report(state: TabState) -> impl IntoView {
    move || {
        state.report.get().map(|report| {
            let progress = match report.phase {
                Phase::Downloading { received, total } => Some(view! {
                    <progress id="download-progress" max=total as f64 value=received as f64></progress>
                }),
                _ => None,
            };
            let failed = matches!(report.phase, Phase::Failed { .. } | Phase::Unsupported { .. });
            let warm_up = report
                .warm_up_tokens_per_second
                .map_or_else(|| "—".to_string(), |speed| format!("{speed:.1}"));
            let source = report.model_from_cache.map(|cached| {
                if cached { "taken from this browser's cache" } else { "downloaded" }
            });
            view! {
                <div class="contribution" id="contribution">
                    <p id="contribution-phase" role=if failed { "alert" } else { "status" }
                        class:error=failed data-phase=phase_name(&report.phase)>
                        {phase_text(&report.phase)}
                    </p>
                    {progress}
                    {source.map(|source| view! {
                        <p>"The model was " <span id="model-source">{source}</span> "."</p>
                    })}
                    <dl class="stats">
                        <Stat label="Requests served" value=report.jobs_done.to_string() id="jobs-served" />
                        <Stat label="Tokens per second" value=format!("{:.1}", report.tokens_per_second) id="tokens-per-second" />
                        <Stat label="Tokens per second at the warm-up" value=warm_up id="warm-up-speed" />
                        <Stat label="Kudos earned" value=format!("{:.2}", report.kudos) id="kudos-earned" />
                    </dl>
                </div>
            }
        })
    }
}

/// The phase's name in `data-phase`, for people reading the page's source and for tests.
fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Checking => "checking",
        Phase::Downloading { .. } => "downloading",
        Phase::Loading => "loading",
        Phase::Serving => "serving",
        Phase::Finishing => "finishing",
        Phase::Paused => "paused",
        Phase::Stopped => "stopped",
        Phase::Unsupported { .. } => "unsupported",
        Phase::Failed { .. } => "failed",
    }
}
