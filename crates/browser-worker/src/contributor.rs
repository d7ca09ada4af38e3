//! One contribution, from the page's `Start` to its `Stop`: check, download, load, then serve
//! jobs until stopped, pausing and resuming as the page asks.

use std::sync::Arc;
use std::time::Duration;

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use infer::{Model, ModelSource};
use protocol::contribute::{Phase, StartContributing, ToWorker};
use worker::{
    Clock, EngineBackend, HttpApi, Limits, Shutdown, Stats, Worker, WorkerOptions, DEFAULT_TTL,
};

use crate::status::Status;
use crate::{download, gpu_check};

/// Jobs this size at most: a browser tab is a modest machine, and its prompt is processed on it.
const LIMITS: Limits = Limits {
    max_length: 512,
    max_context_length: 2048,
};
/// How often the page hears the figures while jobs run.
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// `name:version:kind`, as `potluck-worker` announces itself (`potluck-worker:0.1.0:engine`).
const BRIDGE_AGENT: &str = concat!("potluck-browser:", env!("CARGO_PKG_VERSION"), ":webgpu");

struct TimerClock;

impl Clock for TimerClock {
    async fn sleep(&self, duration: Duration) {
        TimeoutFuture::new(duration.as_millis().min(u32::MAX as u128) as u32).await;
    }
}

/// What the page wants once the jobs in hand are finished.
#[derive(Clone, Copy, PartialEq)]
enum Next {
    Serve,
    Pause,
    Stop,
}

pub async fn run(mut commands: UnboundedReceiver<ToWorker>, status: Status) {
    let start = loop {
        match commands.next().await {
            Some(ToWorker::Start(start)) => break start,
            Some(_) => continue,
            None => return,
        }
    };
    let outcome = match prepare(&start, &status).await {
        Ok(backend) => serve(&start, &backend, &mut commands, &status).await,
        Err(phase) => phase,
    };
    status.phase(outcome);
}

/// The engine with the model loaded and its speed measured, or the phase that ends it all.
async fn prepare(start: &StartContributing, status: &Status) -> Result<EngineBackend, Phase> {
    status.phase(Phase::Checking);
    let gpu = gpu_check::open_gpu(&start.model)
        .await
        .map_err(|message| Phase::Unsupported { message })?;
    let failed = |message: String| Phase::Failed { message };
    // A report per half percent, not per network chunk (thousands for a real model).
    let mut reported = None;
    let downloaded = download::model(&start.model, |received, total| {
        let step = received * 200 / total.max(1);
        if reported != Some(step) {
            reported = Some(step);
            status.phase(Phase::Downloading { received, total });
        }
    })
    .await
    .map_err(failed)?;
    status.update(|report| {
        report.phase = Phase::Loading;
        report.model_from_cache = Some(downloaded.from_cache);
    });
    let model = Model::load(gpu, ModelSource::Gguf(downloaded.bytes))
        .await
        .map_err(|e| failed(format!("the model did not load: {e}")))?;
    let mut backend = EngineBackend::new(Arc::new(model), start.model.name.clone(), LIMITS);
    let speed = backend
        .fit_to(DEFAULT_TTL)
        .await
        .map_err(|e| failed(format!("the warm-up failed: {e}")))?;
    status.update(|report| report.warm_up_tokens_per_second = Some(speed));
    Ok(backend)
}

/// Serves jobs until the page stops it (or goes away), and says how it ended.
async fn serve(
    start: &StartContributing,
    backend: &EngineBackend,
    commands: &mut UnboundedReceiver<ToWorker>,
    status: &Status,
) -> Phase {
    let api = match HttpApi::new(&start.server, &start.api_key, BRIDGE_AGENT) {
        Ok(api) => api,
        Err(error) => {
            return Phase::Failed {
                message: error.to_string(),
            }
        }
    };
    let options = WorkerOptions {
        name: start.worker_name.clone(),
        threads: 1,
        nsfw: false,
        bridge_agent: BRIDGE_AGENT.into(),
        browser: true,
        keeps_prompts: false,
        idle_poll: Duration::from_secs(1),
        retry_pause: Duration::from_secs(1),
    };
    // One for the whole visit, so the figures add up across pauses.
    let stats = Stats::new(1);
    loop {
        let shutdown = Shutdown::default();
        let worker = Worker::new(
            &api,
            backend,
            &TimerClock,
            options.clone(),
            &stats,
            &shutdown,
        );
        status.phase(Phase::Serving);
        let (result, next) = follow(worker.run(), &shutdown, commands, &stats, status).await;
        status.figures(&stats.snapshot());
        if let Err(error) = result {
            return Phase::Failed {
                message: error.to_string(),
            };
        }
        match next {
            Next::Serve => continue,
            Next::Stop => return Phase::Stopped,
            Next::Pause => {
                status.phase(Phase::Paused);
                loop {
                    match commands.next().await {
                        Some(ToWorker::Resume) => break,
                        Some(ToWorker::Stop) | None => return Phase::Stopped,
                        Some(_) => continue,
                    }
                }
            }
        }
    }
}

/// Runs the worker loop to its end, turning the page's messages into shutdowns and sending
/// the figures as they change; returns the loop's result and what the page wants next.
async fn follow<R>(
    run: impl std::future::Future<Output = R>,
    shutdown: &Shutdown,
    commands: &mut UnboundedReceiver<ToWorker>,
    stats: &Stats,
    status: &Status,
) -> (R, Next) {
    let run = run.fuse();
    futures_util::pin_mut!(run);
    let mut next = Next::Serve;
    loop {
        let tick = TimeoutFuture::new(REPORT_EVERY.as_millis() as u32).fuse();
        futures_util::pin_mut!(tick);
        futures_util::select! {
            result = run => return (result, next),
            command = commands.next() => {
                let Some(command) = command else {
                    // The page is gone: nobody will ask again.
                    shutdown.request();
                    return (run.await, Next::Stop);
                };
                let again = next == Next::Stop;
                next = match command {
                    ToWorker::Pause if next == Next::Serve => Next::Pause,
                    ToWorker::Resume if next == Next::Pause => Next::Serve,
                    ToWorker::Stop => Next::Stop,
                    _ => continue,
                };
                // The first request drains; a second stop hands the job back at once.
                if again || !shutdown.stopping() {
                    shutdown.request();
                }
                status.phase(Phase::Finishing);
            },
            () = tick => status.figures(&stats.snapshot()),
        }
    }
}
