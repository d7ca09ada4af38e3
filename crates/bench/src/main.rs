//! Load benchmark of the text job cycle: N requesters and M workers drive
//! async → pop → submit → status over HTTP against a real server, check that
//! every request comes back with the text its worker submitted, and print the
//! latency of each call type and the jobs per second.
//!
//! Run it against a potluck of its own (fresh SQLite database in a temp
//! directory, ephemeral port, killed at the end):
//!
//! ```sh
//! cargo build --release -p server -p bench
//! target/release/bench --duration 20                       # 8 requesters, 8 workers
//! target/release/bench --requesters 16 --workers 16 --duration 20
//! target/release/bench --jobs 5000                         # a fixed number of jobs instead
//! ```
//!
//! Against a server that is already running (accounts are registered through
//! `POST /api/v2/register`, or given keys are used, shared by all loops):
//!
//! ```sh
//! target/release/bench --server http://127.0.0.1:8080
//! # several instances on one PostgreSQL database, loops spread over them round-robin:
//! target/release/bench --server http://127.0.0.1:8081 --server http://127.0.0.1:8082
//! # the original AI Horde from /work/shared/reference/up.sh (no /register there;
//! # `source ~/.cache/aihorde-reference/ref.env` sets the three variables):
//! target/release/bench --server "$REF_BASE" --worker-key "$WORKER_KEY" \
//!     --requester-key "$REQUESTER_KEY" --model koboldcpp/conformance-model \
//!     --requesters 4 --workers 4 --duration 20
//! ```
//!
//! `--database-url` hands the started potluck that database as is: give it an
//! empty one. A shared `--requester-key` puts all requesters under one user's
//! concurrency limit (30 on potluck unless `--default-concurrency` raises it).
//! Requesters poll every `--poll-ms` and idle workers wait `--backoff-ms`, so
//! at low concurrency these pauses, not the server, bound the cycle time.
//!
//! With `--streams N` it measures streaming instead (see `stream.rs`): N requesters stream
//! `/v1/completions` while N simulated workers send their tokens as progress, and it prints
//! the time to first token and the relay latency (token generated → read by the requester):
//!
//! ```sh
//! target/release/bench --streams 1 --rounds 20
//! target/release/bench --streams 100 --rounds 3 --stream-tokens 64 --token-ms 20
//! ```
//!
//! With `--flood N` N more loops flood the server from one address as fast as they can, calling
//! every endpoint class with made-up keys (`flood.rs`), while the honest loops, each pair on an
//! address of its own, run the cycle at a human pace; compare its latencies with a run without
//! the flood (the rate limits are on in this mode):
//!
//! ```sh
//! target/release/bench --requesters 4 --workers 4 --poll-ms 200 --backoff-ms 200 --duration 30 --flood 0
//! target/release/bench --requesters 4 --workers 4 --poll-ms 200 --backoff-ms 200 --duration 30 --flood 8
//! ```
//!
//! With `--soak SECONDS` it reports, every SECONDS, the window's jobs and their p50 and p99,
//! and the server's memory and open file descriptors, and at the end how they drifted
//! (`soak.rs`); an hour on SQLite, then on PostgreSQL:
//!
//! ```sh
//! target/release/bench --requesters 4 --workers 4 --poll-ms 100 --backoff-ms 100 --duration 3600 --soak 60
//! target/release/bench --database-url postgres://postgres@127.0.0.1/soak --duration 3600 --soak 60
//! ```
//!
//! With `--chaos-command CMD` it runs `sh -c CMD` once, `--chaos-after` seconds into the
//! load; `scripts/chaos-postgres-restart.sh` uses it to restart a PostgreSQL server of its
//! own under the soak's load. Workers retry a submit that fails with a 5xx or no answer, as
//! real workers do, and deliveries that went astray after such an unclear answer are counted
//! apart from the lost ones.
//!
//! It exits with an error if any accepted request was lost, faulted or came
//! back with a wrong result. Both the client and a spawned server run on this
//! machine: the client uses one thread so that it leaves the other cores to
//! the server, and it prints the CPU time each side used.

mod api;
mod flood;
mod load;
mod report;
mod server;
mod soak;
mod stream;

use anyhow::{bail, Context};
use api::Api;
use clap::Parser;
use load::{Budget, Load};
use report::Tally;
use server::SpawnedServer;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinSet;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Load benchmark of the text job cycle (async → pop → submit → status)"
)]
struct Args {
    /// Base URL of a running server; by default the benchmark starts its own potluck. Repeat it
    /// for several instances on one database: requesters and workers are spread over them
    /// round-robin.
    #[arg(long)]
    server: Vec<String>,

    /// The potluck binary to start [default: `potluck` next to this executable].
    #[arg(long, conflicts_with = "server")]
    potluck_bin: Option<PathBuf>,

    /// Database URL for the started potluck [default: a fresh SQLite file in a temp dir].
    #[arg(long, conflicts_with = "server")]
    database_url: Option<String>,

    /// Concurrent requesters, each with one request in flight.
    #[arg(long, default_value_t = 8)]
    requesters: usize,

    /// Concurrent workers, each looping pop → submit.
    #[arg(long, default_value_t = 8)]
    workers: usize,

    /// Seconds during which requesters start new requests.
    #[arg(long, default_value_t = 20, conflicts_with = "jobs")]
    duration: u64,

    /// Run this many requests in all instead of for a duration.
    #[arg(long)]
    jobs: Option<u64>,

    /// The model requested and served.
    #[arg(long, default_value = "bench/Model-1B")]
    model: String,

    /// API key every worker uses instead of registering accounts.
    #[arg(long, requires = "server")]
    worker_key: Option<String>,

    /// API key every requester uses instead of registering accounts.
    #[arg(long, requires = "server")]
    requester_key: Option<String>,

    /// Milliseconds between status polls of a request. Bounds the cycle from below, so
    /// lower values measure the server more and the pacing less, at the cost of more calls.
    #[arg(long, default_value_t = 10)]
    poll_ms: u64,

    /// Milliseconds a worker waits after a pop that found no job.
    #[arg(long, default_value_t = 10)]
    backoff_ms: u64,

    /// Seconds a requester waits for its request before counting it lost.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,

    /// Flood the server with this many more loops from one address, beside the honest load.
    /// The started server then trusts `X-Forwarded-For`, and each requester and worker pair
    /// comes from an address of its own (`--flood 0`: the same without the flood, to compare).
    #[arg(long, conflicts_with = "streams")]
    flood: Option<usize>,

    /// The started server's `--rate-limits` [default: `off` (the benchmark measures the
    /// server, not its limits); with --flood, the server's defaults but for new requests,
    /// which honest loops make faster than people do: `generate=600/m:20`].
    #[arg(long, conflicts_with = "server")]
    rate_limits: Option<String>,

    /// Soak: report the job latency, server memory and file descriptors every this many
    /// seconds while the load runs (use with a long --duration), and how they drifted.
    #[arg(long, conflicts_with_all = ["streams", "jobs"])]
    soak: Option<u64>,

    /// Chaos: run this shell command once, `--chaos-after` seconds into the load (say,
    /// `pg_ctl restart` of the database the server uses), and report how it went.
    #[arg(long, conflicts_with = "streams")]
    chaos_command: Option<String>,

    /// Seconds into the load when `--chaos-command` runs.
    #[arg(long, default_value_t = 60, requires = "chaos_command")]
    chaos_after: u64,

    /// Measure streaming with this many concurrent streams instead of the job cycle.
    #[arg(long)]
    streams: Option<usize>,

    /// Streamed completions each stream's requester makes, one after another.
    #[arg(long, default_value_t = 5, requires = "streams")]
    rounds: u32,

    /// Tokens in each streamed completion.
    #[arg(long, default_value_t = 64, requires = "streams")]
    stream_tokens: u32,

    /// Milliseconds between two tokens of one simulated worker.
    #[arg(long, default_value_t = 20, requires = "streams")]
    token_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: the server under test shares this machine's cores with the client.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let spawned = match args.server.is_empty() {
        true => Some(start_server(&args).await?),
        false => None,
    };
    let base_urls = match &spawned {
        Some(server) => vec![server.base_url.clone()],
        None => args.server.clone(),
    };
    let server_pid = spawned.as_ref().and_then(SpawnedServer::pid);
    let result = match args.streams {
        Some(streams) => bench_streams(&args, &base_urls[0], streams).await,
        None => bench(&args, &base_urls, server_pid).await,
    };
    if let Some(server) = spawned {
        server.stop().await?;
    }
    result
}

async fn start_server(args: &Args) -> anyhow::Result<SpawnedServer> {
    let binary = match &args.potluck_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("potluck"),
    };
    let mut extra = vec!["--rate-limits".to_string()];
    extra.push(match (&args.rate_limits, args.flood) {
        (Some(limits), _) => limits.clone(),
        (None, Some(_)) => "generate=600/m:20".into(),
        (None, None) => "off".into(),
    });
    if args.flood.is_some() {
        extra.extend(["--client-ip-header".into(), "X-Forwarded-For".into()]);
    }
    let server = SpawnedServer::start(&binary, args.database_url.as_deref(), &extra).await?;
    eprintln!("started {} at {}", binary.display(), server.base_url);
    Ok(server)
}

/// Sets up accounts and workers, runs the load and prints the report.
async fn bench(args: &Args, base_urls: &[String], server_pid: Option<u32>) -> anyhow::Result<()> {
    // Flooded, each requester and worker pair is a client of its own, on an address of its own.
    let apis = match args.flood {
        Some(_) => (0..args.requesters.max(args.workers))
            .map(|i| {
                let address = format!("198.18.1.{}", i % 250);
                Api::new(
                    &base_urls[i % base_urls.len()],
                    args.model.clone(),
                    Some(&address),
                )
            })
            .collect::<anyhow::Result<Vec<Api>>>()?,
        None => base_urls
            .iter()
            .map(|url| Api::new(url, args.model.clone(), None))
            .collect::<anyhow::Result<Vec<Api>>>()?,
    };
    let run_id = run_id();
    let requester_keys = keys(&apis, &args.requester_key, args.requesters, &run_id, "req").await?;
    let worker_keys = keys(&apis, &args.worker_key, args.workers, &run_id, "wrk").await?;
    let workers: Vec<(String, String)> = (0..args.workers)
        .map(|i| format!("{run_id}-worker-{i}"))
        .zip(worker_keys)
        .collect();
    let mut load = Load::new(apis, run_id);
    load.poll = Duration::from_millis(args.poll_ms);
    load.backoff = Duration::from_millis(args.backoff_ms);
    load.request_timeout = Duration::from_secs(args.request_timeout);
    announce_workers(&load, &workers).await?;
    // Set only now, so that registering and announcing do not eat into the duration.
    load.budget = match args.jobs {
        Some(jobs) => Budget::Jobs(jobs.into()),
        None => Budget::Until(Instant::now() + Duration::from_secs(args.duration)),
    };
    let load = Arc::new(load);

    eprintln!(
        "running {} requesters and {} workers against {} ({})",
        args.requesters,
        args.workers,
        base_urls.join(" "),
        match args.jobs {
            Some(jobs) => format!("{jobs} jobs"),
            None => format!("{} s", args.duration),
        }
    );
    let cpu_before = (cpu_seconds("self"), server_pid.and_then(pid_cpu_seconds));
    let started = Instant::now();
    let stop_flood = Arc::new(AtomicBool::new(false));
    let flooding = args.flood.map(|loops| {
        let (root, stop) = (base_urls[0].clone(), stop_flood.clone());
        tokio::spawn(async move { flood::run(root, loops, stop).await })
    });
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampling = args.soak.map(|seconds| {
        let (load, stop) = (load.clone(), stop_sampling.clone());
        let every = Duration::from_secs(seconds);
        tokio::spawn(async move { soak::sample(load, server_pid, every, stop).await })
    });
    let chaos = args.chaos_command.clone().map(|command| {
        let after = Duration::from_secs(args.chaos_after);
        tokio::spawn(async move { run_chaos(&command, after).await })
    });
    let (mut tally, elapsed) = drive(&load, requester_keys, workers, started).await;
    stop_flood.store(true, Ordering::Relaxed);
    stop_sampling.store(true, Ordering::Relaxed);
    let cpu_after = (cpu_seconds("self"), server_pid.and_then(pid_cpu_seconds));

    report::print(&mut tally, elapsed, load.orphaned());
    if let Some(chaos) = chaos {
        chaos.await??;
    }
    if load.unclear() > 0 {
        println!(
            "{} deliveries never collected after a call of theirs got no clear answer \
             (a request or a submit the server may have taken as it failed)",
            load.unclear()
        );
    }
    if let Some(flooding) = flooding {
        let (flood, flooded) = flooding.await?;
        flood.print(flooded);
    }
    if let Some(sampling) = sampling {
        soak::print_drift(&sampling.await?);
    }
    print_cpu("bench client", cpu_before.0, cpu_after.0, elapsed);
    print_cpu("potluck server", cpu_before.1, cpu_after.1, elapsed);
    verdict(&tally, load.orphaned())
}

async fn bench_streams(args: &Args, base_url: &str, streams: usize) -> anyhow::Result<()> {
    let api = Api::new(base_url, args.model.clone(), None)?;
    let run_id = run_id();
    let apis = std::slice::from_ref(&api);
    let requester_keys = keys(apis, &args.requester_key, streams, &run_id, "req").await?;
    let worker_keys = keys(apis, &args.worker_key, streams, &run_id, "wrk").await?;
    let bench = stream::StreamBench {
        run_id,
        streams,
        tokens: args.stream_tokens,
        token_time: Duration::from_millis(args.token_ms),
        rounds: args.rounds,
    };
    bench.run(Arc::new(api), requester_keys, worker_keys).await
}

/// Runs the loops: requesters until the budget is spent, workers until the requesters are done.
/// Returns the merged measurements and the time the requesters took.
async fn drive(
    load: &Arc<Load>,
    requester_keys: Vec<String>,
    workers: Vec<(String, String)>,
    started: Instant,
) -> (Tally, Duration) {
    let mut worker_set = JoinSet::new();
    for (index, (name, key)) in workers.into_iter().enumerate() {
        let load = load.clone();
        worker_set.spawn(async move { load.worker(index, name, key).await });
    }
    let mut requester_set = JoinSet::new();
    for (index, key) in requester_keys.into_iter().enumerate() {
        let load = load.clone();
        requester_set.spawn(async move { load.requester(index, key).await });
    }
    let mut tally = Tally::default();
    while let Some(done) = requester_set.join_next().await {
        tally.merge(done.expect("requester loop panicked"));
    }
    let elapsed = started.elapsed();
    load.stop.store(true, Ordering::Relaxed);
    while let Some(done) = worker_set.join_next().await {
        tally.merge(done.expect("worker loop panicked"));
    }
    (tally, elapsed)
}

/// The given key for every loop, or one freshly registered account per loop (loop `i`
/// registers on the server it will use).
async fn keys(
    apis: &[Api],
    given: &Option<String>,
    count: usize,
    run_id: &str,
    role: &str,
) -> anyhow::Result<Vec<String>> {
    if let Some(key) = given {
        return Ok(vec![key.clone(); count]);
    }
    let mut keys = Vec::with_capacity(count);
    for i in 0..count {
        let api = &apis[i % apis.len()];
        keys.push(api.register(&format!("{run_id}-{role}-{i}")).await?);
    }
    Ok(keys)
}

/// Has every worker pop once, so that the server knows the model before anyone requests it
/// (a request for a model no worker has offered is refused).
async fn announce_workers(load: &Load, workers: &[(String, String)]) -> anyhow::Result<()> {
    for (index, (name, key)) in workers.iter().enumerate() {
        // Not timed: the run has not started; a job found here is a leftover and gets submitted.
        load.work_once(index, name, key, &mut Tally::default())
            .await
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("first pop of worker {name}"))?;
    }
    Ok(())
}

/// Runs the chaos command once, `after` into the load.
async fn run_chaos(command: &str, after: Duration) -> anyhow::Result<()> {
    tokio::time::sleep(after).await;
    let started = Instant::now();
    eprintln!("chaos at {} s: {command}", after.as_secs());
    let status = tokio::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .await?;
    println!(
        "chaos at {} s: `{command}` took {:.1} s and exited with {status}",
        after.as_secs(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fails the run if anything accepted did not come back right.
fn verdict(tally: &Tally, orphaned: usize) -> anyhow::Result<()> {
    let c = &tally.counts;
    let unfinished = c.submitted - c.completed;
    if unfinished > 0 || orphaned > 0 {
        bail!(
            "{unfinished} of {} accepted requests did not complete correctly ({} wrong, {} faulted, {} lost); {orphaned} deliveries never collected",
            c.submitted,
            c.mismatched,
            c.faulted,
            c.lost
        );
    }
    Ok(())
}

/// A short tag unique to this run, so names do not clash on a reused server.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("bench{:x}", (nanos as u64) ^ u64::from(std::process::id()))
}

fn print_cpu(who: &str, before: Option<f64>, after: Option<f64>, elapsed: Duration) {
    if let (Some(before), Some(after)) = (before, after) {
        let used = after - before;
        println!(
            "{who} CPU: {used:.1} s in {:.1} s ({:.0}% of one core)",
            elapsed.as_secs_f64(),
            100.0 * used / elapsed.as_secs_f64()
        );
    }
}

fn pid_cpu_seconds(pid: u32) -> Option<f64> {
    cpu_seconds(&pid.to_string())
}

/// User + system CPU time of a process, from Linux's /proc; `None` elsewhere.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every mainstream configuration.
    Some(ticks as f64 / 100.0)
}
