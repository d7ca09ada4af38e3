//! Several server instances on one PostgreSQL database, as behind a load
//! balancer: they share the queue, the accounts and the limits, and their
//! sweeps do not get in each other's way. SQLite is served by one process, so
//! without `POTLUCK_TEST_BACKEND=postgres` these tests say they skipped.

use crate::common::{assert_error, postgres_or_skip, Server, ANON};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MODEL: &str = "test/Tiny-1B";

#[tokio::test]
async fn instances_share_the_queue_accounts_and_limits() {
    if !postgres_or_skip("instances_share_the_queue_accounts_and_limits") {
        return;
    }
    let a = Server::start(&["--default-concurrency", "3"]);
    let b = a.start_beside(&["--default-concurrency", "3"]);
    // An account created on one instance is known on the other. Trusted: its rewards are
    // paid at once (an untrusted one's are held; see trust.rs).
    let (_, owner) = a.admin_user("owner", &["--trusted"]);
    let (_, requester) = b.register("requester").await;
    a.pop_text(&owner, "worker-a", MODEL).await;
    b.pop_text(&owner, "worker-b", MODEL).await;

    // The requester's limit of 3 active requests holds across instances.
    let submits = (0..8).map(|i| {
        let (server, key) = (if i % 2 == 0 { &a } else { &b }, &requester);
        async move {
            let body = json!({"prompt": format!("prompt {i}"), "models": [MODEL]});
            server.post("/generate/text/async", Some(key), body).await
        }
    });
    let answers = futures::future::join_all(submits).await;
    let accepted: Vec<String> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::ACCEPTED)
        .map(|(_, body)| body["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(accepted.len(), 3, "{answers:?}");
    for answer in answers.iter().filter(|(s, _)| *s != StatusCode::ACCEPTED) {
        assert_error(answer, StatusCode::TOO_MANY_REQUESTS, "TooManyPrompts");
    }

    // Workers popping on both instances at once never share a job.
    let pops = (0..6).map(|i| {
        let (server, key) = (if i % 2 == 0 { &a } else { &b }, &owner);
        let worker = if i % 2 == 0 { "worker-a" } else { "worker-b" };
        async move {
            let mut got = Vec::new();
            loop {
                let (_, job) = server.pop_text(key, worker, MODEL).await;
                match job["id"].as_str() {
                    Some(id) => got.push((i, id.to_string())),
                    None => return got,
                }
            }
        }
    });
    let jobs: Vec<(usize, String)> = futures::future::join_all(pops)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut ids: Vec<&String> = jobs.iter().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((jobs.len(), ids.len()), (3, 3), "{jobs:?}");

    // A job popped on one instance is submitted on the other.
    for (i, id) in &jobs {
        let other = if i % 2 == 0 { &b } else { &a };
        let (status, body) = other
            .post(
                "/generate/text/submit",
                Some(&owner),
                json!({"id": id, "generation": "done"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for id in &accepted {
        let (_, status) = a.get(&format!("/generate/text/status/{id}"), None).await;
        assert_eq!(status["done"], true, "{status}");
    }
    assert!(a.kudos(&owner).await > 0.0);
    assert_eq!(a.kudos(&owner).await, b.kudos(&owner).await);
    let (ok, audit) = b.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}

#[tokio::test]
async fn sweeps_on_several_instances_requeue_a_lost_job_once() {
    if !postgres_or_skip("sweeps_on_several_instances_requeue_a_lost_job_once") {
        return;
    }
    let flags = [
        "--job-ttl-override-secs",
        "1",
        "--sweep-interval-ms",
        "50",
        "--max-restarts",
        "5",
    ];
    let a = Server::start(&flags);
    let _b = a.start_beside(&flags);
    let _c = a.start_beside(&flags);
    let (_, key) = a.register("owner").await;
    a.pop_text(&key, "vanishing", MODEL).await;
    let id = a
        .submit_text_request(ANON, json!({"prompt": "hello"}))
        .await;
    let (_, job) = a.pop_text(&key, "vanishing", MODEL).await;
    assert!(job["id"].is_string(), "{job}");
    let path = format!("/generate/text/status/{id}");
    a.wait_for(&path, Duration::from_secs(10), |_, s| s["restarted"] == 1)
        .await;
    // Three instances sweep every 50 ms; the lost job went back exactly once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, status) = a.get(&path, None).await;
    assert_eq!(
        (&status["restarted"], &status["waiting"]),
        (&json!(1), &json!(1)),
        "{status}"
    );
    let (_, workers) = a.get("/workers?type=text", None).await;
    assert_eq!(workers[0]["uncompleted_jobs"], 1, "{workers}");
}

// The load runs below: three instances, `WORKERS` workers of `OWNERS` accounts
// and `REQUESTERS` requesters spread over them round-robin, `JOBS` text jobs.
const JOBS: usize = 1000;
const INSTANCES: usize = 3;
const WORKERS: usize = 21;
const OWNERS: usize = 4;
const REQUESTERS: usize = 4;
/// A worker's pause after a pop that found nothing.
const EMPTY_POP_PAUSE: Duration = Duration::from_millis(50);
/// Beyond this the run is stuck, not slow.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Under load from all sides, every job is delivered exactly once and every
/// kudo is accounted for.
#[tokio::test]
async fn a_thousand_jobs_over_three_instances_are_delivered_once() {
    if !postgres_or_skip("a_thousand_jobs_over_three_instances_are_delivered_once") {
        return;
    }
    // Each requester's whole share may be queued at once.
    let servers = start_instances(&["--default-concurrency", "1000"]);
    let run = LoadRun::new(&servers, None).await;
    run.go().await;
    run.check_results().await;
    run.check_kudos().await;
}

/// An instance dies (SIGKILL) half way, and its workers with the jobs they
/// held: the leases expire, the other instances finish those jobs, and still
/// nothing is lost or delivered twice.
#[tokio::test]
async fn an_instance_killed_midway_loses_nothing() {
    if !postgres_or_skip("an_instance_killed_midway_loses_nothing") {
        return;
    }
    // Short leases and frequent sweeps, so that the jobs the killed
    // instance's workers took with them come back within seconds.
    let servers = start_instances(&[
        "--default-concurrency",
        "1000",
        "--job-ttl-override-secs",
        "2",
        "--sweep-interval-ms",
        "200",
    ]);
    let run = LoadRun::new(&servers, Some(INSTANCES - 1)).await;
    run.go().await;
    let held = run.held.lock().unwrap().len();
    assert_eq!(
        held,
        run.vanishing_workers(),
        "each vanishing worker held a job"
    );
    run.check_results().await;
    run.check_kudos().await;
}

fn start_instances(flags: &[&str]) -> Vec<Server> {
    let first = Server::start(flags);
    let mut servers: Vec<Server> = (1..INSTANCES).map(|_| first.start_beside(flags)).collect();
    servers.insert(0, first);
    servers
}

/// What a worker popped.
struct Popped {
    prompt: String,
    worker: usize,
}

/// A load run over several instances, and everything the checks need to know
/// about it afterwards.
struct LoadRun<'a> {
    servers: &'a [Server],
    owners: Vec<String>,
    requesters: Vec<String>,
    /// The instance killed half way through, if any. Its workers vanish with
    /// it, each taking along the job it held, and come back on another instance.
    doomed: Option<usize>,
    /// Request id → (requester, prompt).
    requests: Mutex<HashMap<String, (usize, String)>>,
    /// Job id → what was popped; a job id is popped once at most.
    popped: Mutex<HashMap<String, Popped>>,
    /// Job id → reward its submit answered.
    rewards: Mutex<HashMap<String, f64>>,
    /// Jobs the vanishing workers dropped, never submitted.
    held: Mutex<Vec<String>>,
    /// Set half way through: the doomed instance's workers keep their next job.
    holding: AtomicBool,
    killed: AtomicBool,
    delivered: AtomicUsize,
}

impl<'a> LoadRun<'a> {
    /// Registers the accounts, spread over the instances too.
    async fn new(servers: &'a [Server], doomed: Option<usize>) -> LoadRun<'a> {
        // Trusted owners: their rewards are paid at once, so that the balances below are the
        // sums of the submits' answers (an untrusted owner's are held; see trust.rs).
        let mut owners = Vec::new();
        for i in 0..OWNERS {
            owners.push(
                servers[i % INSTANCES]
                    .admin_user(&format!("owner-{i}"), &["--trusted"])
                    .1,
            );
        }
        let mut requesters = Vec::new();
        for i in 0..REQUESTERS {
            requesters.push(
                servers[i % INSTANCES]
                    .register(&format!("requester-{i}"))
                    .await
                    .1,
            );
        }
        // The workers' first pops announce the model, which requests must name.
        for w in 0..WORKERS {
            let (status, job) = servers[w % INSTANCES]
                .pop_text(&owners[w % OWNERS], &worker_name(w), MODEL)
                .await;
            assert_eq!(
                (status, &job["id"]),
                (StatusCode::OK, &Value::Null),
                "{job}"
            );
        }
        LoadRun {
            servers,
            owners,
            requesters,
            doomed,
            requests: Mutex::default(),
            popped: Mutex::default(),
            rewards: Mutex::default(),
            held: Mutex::default(),
            holding: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            delivered: AtomicUsize::new(0),
        }
    }

    /// Queues every request, then works them off with all workers at once
    /// (and kills the doomed instance half way).
    async fn go(&self) {
        let started = Instant::now();
        let run = async {
            futures::future::join_all((0..REQUESTERS).map(|r| self.request(r))).await;
            let queued = started.elapsed();
            let workers = futures::future::join_all((0..WORKERS).map(|w| self.work(w)));
            futures::join!(workers, self.kill_midway());
            queued
        };
        let queued = tokio::time::timeout(RUN_LIMIT, run)
            .await
            .unwrap_or_else(|_| panic!("stuck: {} of {JOBS} delivered", self.delivered()));
        eprintln!(
            "{JOBS} jobs on {INSTANCES} instances: queued in {:.1} s, delivered by {WORKERS} workers in {:.1} s",
            queued.as_secs_f64(),
            (started.elapsed() - queued).as_secs_f64()
        );
    }

    /// Requester `r`'s share of the jobs, each on the next instance in turn.
    async fn request(&self, r: usize) {
        for j in (r..JOBS).step_by(REQUESTERS) {
            let prompt = format!("request {j} of requester {r}");
            let body = json!({"prompt": prompt, "models": [MODEL]});
            let id = self.servers[j % INSTANCES]
                .submit_text_request(&self.requesters[r], body)
                .await;
            self.requests.lock().unwrap().insert(id, (r, prompt));
        }
    }

    /// Worker `w` pops and submits until every job is delivered. Its text
    /// names the job, so a result shows which job it came from.
    async fn work(&self, w: usize) {
        let (name, key) = (worker_name(w), &self.owners[w % OWNERS]);
        while self.delivered() < JOBS {
            let server = self.instance_of(w);
            let (status, job) = server.pop_text(key, &name, MODEL).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            let Some(id) = job["id"].as_str() else {
                tokio::time::sleep(EMPTY_POP_PAUSE).await;
                continue;
            };
            let prompt = job["payload"]["prompt"].as_str().expect("a prompt");
            let first = self.popped.lock().unwrap().insert(
                id.to_string(),
                Popped {
                    prompt: prompt.to_string(),
                    worker: w,
                },
            );
            assert!(first.is_none(), "job {id} popped twice");
            if self.vanishes_now(w) {
                self.vanish(id).await;
                continue;
            }
            let body = json!({"id": id, "generation": format!("job {id}")});
            let (status, answer) = server.post("/generate/text/submit", Some(key), body).await;
            assert_eq!(status, StatusCode::OK, "submit of {id}: {answer}");
            let reward = answer["reward"].as_f64().expect("a reward");
            self.rewards.lock().unwrap().insert(id.to_string(), reward);
            self.delivered.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Whether worker `w` is attached to the doomed instance, which is about to die.
    fn vanishes_now(&self, w: usize) -> bool {
        self.doomed == Some(w % INSTANCES)
            && self.holding.load(Ordering::SeqCst)
            && !self.killed.load(Ordering::SeqCst)
    }

    /// Keeps job `id` until the instance is killed, then drops it: the worker
    /// went down with the instance, and only the job's lease can bring it back.
    async fn vanish(&self, id: &str) {
        self.held.lock().unwrap().push(id.to_string());
        while !self.killed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn vanishing_workers(&self) -> usize {
        (0..WORKERS)
            .filter(|w| self.doomed == Some(w % INSTANCES))
            .count()
    }

    /// Once half the jobs are delivered and each of the doomed instance's
    /// workers holds a job, kills that instance (SIGKILL).
    async fn kill_midway(&self) {
        let Some(doomed) = self.doomed else { return };
        while self.delivered() < JOBS / 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.holding.store(true, Ordering::SeqCst);
        while self.held.lock().unwrap().len() < self.vanishing_workers() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // No call to it is in flight: its workers are all waiting in `vanish`.
        self.servers[doomed].kill();
        self.killed.store(true, Ordering::SeqCst);
        eprintln!(
            "killed instance {doomed} with {} of {JOBS} delivered; its workers dropped {} jobs",
            self.delivered(),
            self.vanishing_workers()
        );
    }

    /// The instance worker `w` talks to: its own, or after its own was killed,
    /// the next one that lives.
    fn instance_of(&self, w: usize) -> &Server {
        let own = w % INSTANCES;
        if self.killed.load(Ordering::SeqCst) && self.doomed == Some(own) {
            &self.servers[(own + 1) % INSTANCES]
        } else {
            &self.servers[own]
        }
    }

    fn living(&self) -> Vec<&Server> {
        (0..INSTANCES)
            .filter(|&i| self.doomed != Some(i))
            .map(|i| &self.servers[i])
            .collect()
    }

    fn delivered(&self) -> usize {
        self.delivered.load(Ordering::SeqCst)
    }

    /// Every request is done with exactly one generation: the text submitted
    /// for a job popped for that very request. No job is delivered twice; the
    /// requests whose job was dropped were restarted, the others never.
    async fn check_results(&self) {
        // Asked first: no lock is held across an await.
        let requests = self.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), JOBS);
        let statuses = self.statuses(requests.keys()).await;
        let popped = self.popped.lock().unwrap();
        let rewards = self.rewards.lock().unwrap();
        assert_eq!(rewards.len(), JOBS, "submitted jobs");
        let held = self.held.lock().unwrap().clone();
        let dropped_prompts: HashSet<&str> =
            held.iter().map(|id| popped[id].prompt.as_str()).collect();
        let mut delivered = HashSet::new();
        for (id, status) in &statuses {
            let prompt = &requests[id.as_str()].1;
            assert_eq!(status["done"], true, "{id}: {status}");
            let [generation] = status["generations"].as_array().unwrap().as_slice() else {
                panic!("{id}: not exactly one generation: {status}");
            };
            let job = generation["id"].as_str().unwrap();
            assert_eq!(generation["text"], format!("job {job}"), "{status}");
            assert_eq!(
                &popped[job].prompt, prompt,
                "{id} got another request's job"
            );
            assert!(
                rewards.contains_key(job),
                "{job} delivered but never submitted"
            );
            assert!(delivered.insert(job.to_string()), "{job} delivered twice");
            let restarted = status["restarted"].as_u64().unwrap();
            let dropped = dropped_prompts.contains(prompt.as_str());
            assert_eq!(
                restarted > 0,
                dropped,
                "{id} (dropped: {dropped}): {status}"
            );
        }
        assert_eq!(delivered.len(), JOBS);
    }

    /// The status of each request, asked of the living instances in turn.
    async fn statuses<'k>(
        &self,
        ids: impl Iterator<Item = &'k String>,
    ) -> Vec<(&'k String, Value)> {
        let living = self.living();
        let asks = ids.enumerate().map(|(i, id)| {
            let server = living[i % living.len()];
            async move {
                let (status, body) = server
                    .get(&format!("/generate/text/status/{id}"), None)
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                (id, body)
            }
        });
        futures::stream::iter(asks)
            .buffer_unordered(8)
            .collect()
            .await
    }

    /// The ledger audit passes, each owner earned exactly the rewards its
    /// submits answered, and each requester paid reward + 1 per generation: their
    /// balances are that, plus the top-ups to their floor (booked as `admin`).
    async fn check_kudos(&self) {
        let living = self.living();
        let (ok, audit) = living[0].admin(&["audit-kudos"]);
        assert!(ok, "{audit}");
        let (earned, paid) = self.kudos_moved();
        for (i, key) in self.owners.iter().enumerate() {
            let moved = moved_by_work(living[i % living.len()], key).await;
            assert_eq!(moved, earned[i], "owner {i}");
        }
        for (i, key) in self.requesters.iter().enumerate() {
            let moved = moved_by_work(living[i % living.len()], key).await;
            assert_eq!(moved, -paid[i], "requester {i}");
        }
    }

    /// What each owner earned and each requester paid, in hundredths, by the
    /// answers of the submits (and the 1 kudos each request costs to queue).
    fn kudos_moved(&self) -> ([i64; OWNERS], [i64; REQUESTERS]) {
        let popped = self.popped.lock().unwrap();
        let requests = self.requests.lock().unwrap();
        let requester_of: HashMap<&str, usize> = requests
            .values()
            .map(|(r, prompt)| (prompt.as_str(), *r))
            .collect();
        let (mut earned, mut paid) = ([0; OWNERS], [0; REQUESTERS]);
        for (job, reward) in self.rewards.lock().unwrap().iter() {
            let reward = hundredths(*reward);
            earned[popped[job].worker % OWNERS] += reward;
            paid[requester_of[popped[job].prompt.as_str()]] += reward + 100;
        }
        for (requester, _) in requests.values() {
            paid[*requester] += 100;
        }
        (earned, paid)
    }
}

fn worker_name(w: usize) -> String {
    format!("worker-{w}")
}

/// Kudos as the integer hundredths they are kept in.
fn hundredths(kudos: f64) -> i64 {
    (kudos * 100.0).round() as i64
}

/// An account's balance less its floor top-ups, in hundredths: what work moved.
async fn moved_by_work(server: &Server, key: &str) -> i64 {
    let (status, user) = server.get("/find_user", Some(key)).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let admin = user["kudos_details"]["admin"].as_f64().unwrap();
    hundredths(user["kudos"].as_f64().unwrap()) - hundredths(admin)
}

#[tokio::test]
async fn an_instance_keeps_to_its_connection_budget_under_load() {
    if !postgres_or_skip("an_instance_keeps_to_its_connection_budget_under_load") {
        return;
    }
    let server = Server::start(&["--database-pool-size", "2"]);
    let (_, key) = server.register("owner").await;
    // Far more requests at once than connections: they wait their turn, none fails.
    let answers = futures::stream::iter(0..40)
        .map(|i| {
            let server = &server;
            let key = key.as_str();
            async move {
                match i % 2 {
                    0 => server.register(&format!("user-{i}")).await.0 > 0,
                    _ => server.get("/find_user", Some(key)).await.0 == StatusCode::OK,
                }
            }
        })
        .buffer_unordered(40)
        .collect::<Vec<bool>>()
        .await;
    assert!(answers.iter().all(|ok| *ok));
    // The pool's two, and the relay's listener.
    let mut db = server.sql().await;
    let connections: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(connections <= 3, "{connections} connections");
}

/// Takes database `name` away from every connection (as a restart of the database server does,
/// without disturbing the other applications on it), or gives it back.
async fn database_outage(name: &str, away: bool) {
    use sqlx::Connection;
    let server = std::env::var("POTLUCK_TEST_POSTGRES")
        .unwrap_or_else(|_| potluck_core::store::DEFAULT_TEST_POSTGRES.to_string());
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    let allow = if away { "false" } else { "true" };
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {allow}"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    if away {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn instances_answer_503_while_the_database_is_away_and_reconnect_by_themselves() {
    if !postgres_or_skip(
        "instances_answer_503_while_the_database_is_away_and_reconnect_by_themselves",
    ) {
        return;
    }
    let a = Server::start(&[]);
    let b = a.start_beside(&[]);
    let (_, requester) = a.register("requester").await;
    let (_, owner) = a.register("owner").await;
    let mut queued = Vec::new();
    for i in 0..3 {
        let body = json!({"prompt": format!("before the outage {i}"), "models": [MODEL],
                          "params": {"max_length": 16}});
        queued.push(a.submit_text_request(&requester, body).await);
    }

    let name: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut a.sql().await)
        .await
        .unwrap();
    database_outage(&name, true).await;
    for server in [&a, &b] {
        for request in [
            server.http().get(format!("{}/health/ready", server.base)),
            server
                .http()
                .post(format!("{}/api/v2/generate/text/async", server.base))
                .header("apikey", &requester)
                .json(&json!({"prompt": "during the outage", "models": [MODEL]})),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()["retry-after"], "5");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["rc"], "ServiceUnavailable", "{body}");
        }
    }
    database_outage(&name, false).await;

    // Each instance comes back by itself, as soon as a client retries.
    for server in [&a, &b] {
        let started = Instant::now();
        loop {
            let ready = server.http().get(format!("{}/health/ready", server.base));
            if ready.send().await.unwrap().status() == StatusCode::OK {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "not ready again"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Nothing queued before the outage was lost: each is served across the instances.
    for _ in &queued {
        let (status, job) = b.pop_text(&owner, "worker", MODEL).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        let (status, body) = a
            .post(
                "/generate/text/submit",
                Some(&owner),
                json!({"id": job["id"], "generation": "served after the outage"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for id in &queued {
        let (_, status) = b.get(&format!("/generate/text/status/{id}"), None).await;
        assert_eq!(status["done"], true, "{status}");
    }
    let (ok, audit) = a.admin(&["audit-kudos"]);
    assert!(ok, "{audit}");
}
