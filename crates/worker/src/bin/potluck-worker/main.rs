//! `potluck-worker`: serves a Potluck server's text jobs with this machine's GPU (our engine), or
//! with a local OpenAI-compatible server. With the engine, a worker the server trusts also checks
//! other workers' text: it scores their tokens under the model and the request's sampling rules,
//! at about the cost of a prefill, before their kudos are paid.
//!
//! ```sh
//! potluck-worker --server https://potluck.example --api-key KEY --name my-box \
//!     --model SmolLM2-135M-Instruct.Q4_1.gguf
//! ```

mod cli;
mod status;

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use cli::{BackendArgs, BackendKind, Cli, Command, GenerateArgs, MaintenanceArgs, RunArgs, Switch};
use infer::{Gpu, Model, ModelSource};
use protocol::{ScoreCheck, TextScores};
use status::StatusLine;
use web_time::Instant;
use worker::{
    ApiError, Backend, BackendError, Clock, EngineBackend, Generated, GenerationSettings, HordeApi,
    HttpApi, JobControl, Limits, OpenAiBackend, Shutdown, Stats, TextJob, Worker, WorkerOptions,
    DEFAULT_TTL,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Generate(args)) => generate(args),
        Some(Command::Maintenance(args)) => maintenance(args),
        None => run(cli.run),
    };
    result.unwrap_or_else(|error| {
        eprintln!("potluck-worker: {error:#}");
        ExitCode::from(2)
    })
}

/// Either back end, chosen at start.
enum AnyBackend {
    Engine(EngineBackend),
    OpenAi(OpenAiBackend),
}

impl Backend for AnyBackend {
    fn models(&self) -> Vec<String> {
        match self {
            AnyBackend::Engine(b) => b.models(),
            AnyBackend::OpenAi(b) => b.models(),
        }
    }

    fn limits(&self) -> Limits {
        match self {
            AnyBackend::Engine(b) => b.limits(),
            AnyBackend::OpenAi(b) => b.limits(),
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyBackend::Engine(b) => b.describe(),
            AnyBackend::OpenAi(b) => b.describe(),
        }
    }

    fn chat_template(&self) -> Option<protocol::ChatTemplateInfo> {
        match self {
            AnyBackend::Engine(b) => b.chat_template(),
            AnyBackend::OpenAi(b) => b.chat_template(),
        }
    }

    async fn generate(
        &self,
        job: &TextJob,
        control: &JobControl,
    ) -> Result<Generated, BackendError> {
        match self {
            AnyBackend::Engine(b) => b.generate(job, control).await,
            AnyBackend::OpenAi(b) => b.generate(job, control).await,
        }
    }

    fn can_score(&self) -> bool {
        match self {
            AnyBackend::Engine(b) => b.can_score(),
            AnyBackend::OpenAi(b) => b.can_score(),
        }
    }

    async fn score(&self, job: &TextJob, check: &ScoreCheck) -> Result<TextScores, BackendError> {
        match self {
            AnyBackend::Engine(b) => b.score(job, check).await,
            AnyBackend::OpenAi(b) => b.score(job, check).await,
        }
    }
}

struct TokioClock;

impl Clock for TokioClock {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn model_name_from_path(path: &Path) -> String {
    let name = if path.is_dir() {
        path.file_name()
    } else {
        path.file_stem()
    };
    name.map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

/// The back end the arguments describe; with `fit_to_server`, the engine's job size is cut to
/// what this machine generates within the server's time limit (measured here and now).
fn backend(args: &BackendArgs, fit_to_server: bool) -> anyhow::Result<AnyBackend> {
    let limits = Limits {
        max_length: args.max_length.unwrap_or(cli::DEFAULT_MAX_LENGTH).max(1),
        max_context_length: args
            .max_context_length
            .unwrap_or(cli::DEFAULT_MAX_CONTEXT)
            .max(2),
    };
    match args.backend.unwrap_or(BackendKind::Engine) {
        BackendKind::Engine => {
            let Some(path) = &args.model else {
                bail!("the engine needs a model: give --model FILE.gguf (or a Hugging Face model directory)");
            };
            let gpu = pollster::block_on(Gpu::new()).context("opening the GPU")?;
            let model = pollster::block_on(Model::load(gpu, ModelSource::Path(path.clone())))
                .with_context(|| format!("loading {}", path.display()))?;
            let name = args
                .model_name
                .clone()
                .unwrap_or_else(|| model_name_from_path(path));
            let mut engine = EngineBackend::new(Arc::new(model), name, limits);
            if fit_to_server {
                let speed = pollster::block_on(engine.fit_to(DEFAULT_TTL))?;
                tracing::info!("this machine generates {speed:.1} tokens/s with this model");
            }
            Ok(AnyBackend::Engine(engine))
        }
        BackendKind::Openai => {
            let (Some(url), Some(model)) = (&args.backend_url, &args.backend_model) else {
                bail!("the openai back end needs --backend-url and --backend-model");
            };
            let name = args.model_name.as_deref().unwrap_or(model);
            let backend =
                OpenAiBackend::new(url, model, name, args.backend_api_key.clone(), limits)?;
            Ok(AnyBackend::OpenAi(backend))
        }
    }
}

fn init_logging(status: &StatusLine) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POTLUCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(status.clone())
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let args = args.with_config_file()?;
    let (api_key, name) = args.required()?;
    let status = StatusLine::new(!args.no_status && std::io::stderr().is_terminal());
    init_logging(&status);
    let backend = backend(&args.backend, true)?;
    let kind = match backend {
        AnyBackend::Engine(_) => "engine",
        AnyBackend::OpenAi(_) => "openai",
    };
    let bridge_agent = format!("potluck-worker:{}:{kind}", env!("CARGO_PKG_VERSION"));
    let server = args.server.as_deref().unwrap_or(cli::DEFAULT_SERVER);
    let api = HttpApi::new(server, api_key, &bridge_agent)?;
    let threads = args.threads.unwrap_or(1).max(1);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match api.find_user().await {
            Ok(user) => tracing::info!(
                "worker {name} of {} ({:.2} kudos) serving {}",
                user.username,
                user.kudos,
                backend.describe()
            ),
            Err(error @ ApiError::Refused { .. }) => bail!("{server}: {error}"),
            Err(error) => tracing::warn!(%error, "{server} is not answering yet; the worker will keep trying"),
        }
        let stats = Arc::new(Stats::new(threads as usize));
        let shutdown = Arc::new(Shutdown::default());
        tokio::spawn(stop_on_signals(shutdown.clone()));
        status.follow(stats.clone());
        let worker = Worker::new(
            &api,
            &backend,
            &TokioClock,
            WorkerOptions {
                name: name.to_string(),
                threads,
                nsfw: args.nsfw,
                bridge_agent: bridge_agent.clone(),
                browser: false,
                keeps_prompts: args.keeps_prompts,
                idle_poll: Duration::from_secs(1),
                retry_pause: Duration::from_secs(1),
            },
            &stats,
            &shutdown,
        );
        let started = Instant::now();
        let result = worker.run().await;
        status.finish();
        let s = stats.snapshot();
        tracing::info!(
            "done after {:.0} s: {} jobs ({} faulted, {} lost), {} tokens at {:.1} tokens/s, {:.2} kudos earned",
            started.elapsed().as_secs_f64(),
            s.jobs_done,
            s.jobs_faulted,
            s.jobs_lost,
            s.tokens,
            s.tokens_per_second(),
            s.kudos
        );
        result?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C (or SIGTERM) once: finish the current jobs and stop. Twice: hand them back now.
async fn stop_on_signals(shutdown: Arc<Shutdown>) {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
        if shutdown.request() {
            tracing::warn!("stopping now: the current jobs go back to the queue");
        } else {
            tracing::warn!(
                "finishing the current jobs, then stopping (Ctrl-C again to hand them back)"
            );
        }
    }
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let backend = backend(&args.backend, false)?;
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&args.params).context("--params is not a JSON object")?;
    let settings = GenerationSettings::from_params(&params, backend.limits(), args.seed);
    let job = TextJob {
        id: "local".into(),
        model: backend.models().remove(0),
        prompt: args.prompt,
        settings: settings.clone(),
        ttl: Duration::from_secs(3600),
        stream: false,
        score_check: None,
    };
    let control = JobControl::new(Instant::now() + job.ttl);
    let generated = pollster::block_on(backend.generate(&job, &control))?;
    print!("{}", settings.format(&generated.text));
    Ok(ExitCode::SUCCESS)
}

fn maintenance(args: MaintenanceArgs) -> anyhow::Result<ExitCode> {
    let run = args.run.with_config_file()?;
    let (api_key, name) = run.required()?;
    let server = run.server.as_deref().unwrap_or(cli::DEFAULT_SERVER);
    let api = HttpApi::new(
        server,
        api_key,
        concat!("potluck-worker:", env!("CARGO_PKG_VERSION"), ":cli"),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let Some(worker) = api.own_worker(name).await? else {
            bail!("{server} has no worker {name:?} of this API key's account (it appears after its first start)");
        };
        let on = args.switch == Switch::On;
        api.set_maintenance(&worker.id, on, args.message).await?;
        println!("{name}: maintenance {}", if on { "on" } else { "off" });
        Ok(ExitCode::SUCCESS)
    })
}
