//! Test harness: starts the real `potluck` binary on an ephemeral port with a
//! fresh database and talks to it over loopback HTTP.
//!
//! The database is SQLite unless `POTLUCK_TEST_BACKEND=postgres`: then each
//! server gets a fresh PostgreSQL database of its own on the server at
//! `POTLUCK_TEST_POSTGRES` (default postgres://postgres@127.0.0.1:5432/postgres),
//! dropped when the test ends. Run the suite once per back end.

use potluck_core::store::ScratchDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const ANON: &str = "0000000000";

pub struct Server {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    logging: Logging,
    client: reqwest::Client,
    // Released after `drop` killed the child; the last server on a
    // PostgreSQL database drops it.
    database: Arc<Database>,
}

/// What a server logs, and where to.
#[derive(Debug, Clone, Copy)]
enum Logging {
    /// Errors only, to the test's stderr.
    Errors,
    /// Everything (`trace`), to `server.log` in the server's folder, for tests that read it.
    Captured,
}

const LOG_FILE: &str = "server.log";

/// The back end the servers of this run use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `POTLUCK_TEST_BACKEND`: `sqlite` (the default) or `postgres`.
pub fn backend() -> Backend {
    match std::env::var("POTLUCK_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres" | "postgresql") => Backend::Postgres,
        Ok(other) => panic!("POTLUCK_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

/// False, after saying so on stderr, unless this run uses PostgreSQL: for
/// tests that need several instances on one database, which SQLite (served
/// by one process) does not offer.
pub fn postgres_or_skip(test: &str) -> bool {
    let postgres = backend() == Backend::Postgres;
    if !postgres {
        // Straight to stderr: the test harness would swallow println! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped: needs PostgreSQL (run with POTLUCK_TEST_BACKEND=postgres)"
        );
    }
    postgres
}

/// Where a server keeps its state; shared by the servers started beside it.
enum Database {
    Sqlite(String),
    Postgres(ScratchDatabase),
}

impl Database {
    fn url(&self) -> &str {
        match self {
            Database::Sqlite(url) => url,
            Database::Postgres(database) => database.url(),
        }
    }
}

/// The model reference every test server gets unless told otherwise: the test models, with the
/// sizes their names say.
pub const MODEL_REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/model-reference.json"
);

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_potluck"))
}

impl Server {
    /// Starts a server with these extra flags (e.g. short timeouts).
    pub fn start(extra: &[&str]) -> Server {
        Self::start_with(extra, Logging::Errors)
    }

    /// Starts a server like `start` that logs everything it can to a file, read by `log`.
    pub fn start_logged(extra: &[&str]) -> Server {
        Self::start_with(extra, Logging::Captured)
    }

    /// Starts a server like `start` with these environment variables too.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_with_env_and(extra, env, Logging::Errors)
    }

    fn start_with(extra: &[&str], logging: Logging) -> Server {
        Self::start_with_env_and(extra, &[], logging)
    }

    fn start_with_env_and(extra: &[&str], env: &[(&str, &str)], logging: Logging) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = match backend() {
            Backend::Sqlite => Database::Sqlite(Self::database_url(&dir)),
            Backend::Postgres => {
                let admin = ScratchDatabase::admin_url();
                Database::Postgres(
                    ScratchDatabase::create_blocking(&admin)
                        .unwrap_or_else(|e| panic!("POTLUCK_TEST_BACKEND=postgres, but {e}")),
                )
            }
        };
        Self::start_on(dir, Arc::new(database), extra, env, logging)
    }

    /// Starts another instance on this server's database, as behind a load
    /// balancer (PostgreSQL only: see `postgres_or_skip`).
    pub fn start_beside(&self, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Self::start_on(dir, self.database.clone(), extra, &env, self.logging)
    }

    fn start_on(
        dir: tempfile::TempDir,
        database: Arc<Database>,
        extra: &[&str],
        env: &[(&str, &str)],
        logging: Logging,
    ) -> Server {
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, base) = spawn(&dir, database.url(), &args, &env, logging);
        Server {
            child,
            base,
            dir,
            args,
            env,
            logging,
            client: reqwest::Client::new(),
            database,
        }
    }

    /// This server's log so far (a server from `start_logged`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(LOG_FILE)).expect("read the server's log")
    }

    /// This server, called from now on as a client behind a proxy that forwards `address` in
    /// `X-Forwarded-For` (the server must trust it: `--client-ip-header X-Forwarded-For`).
    pub fn forwarded_for(mut self, address: &str) -> Server {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().expect("a header value"));
        self.client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("a client");
        self
    }

    /// The URL of this server's database.
    pub fn database(&self) -> &str {
        self.database.url()
    }

    /// The secrets still stored. SQLite: anywhere in its files, since its secure_delete
    /// overwrites purged values. PostgreSQL has no such thing (a purged value lingers in dead
    /// row versions until VACUUM reuses the space, and in the write-ahead log), so only its live
    /// rows can be checked.
    pub async fn stored<'a>(&self, secrets: &[&'a str]) -> Vec<&'a str> {
        let mut left = Vec::new();
        match backend() {
            Backend::Sqlite => {
                let haystack: Vec<u8> = ["potluck.db", "potluck.db-wal"]
                    .iter()
                    .flat_map(|f| std::fs::read(self.dir.path().join(f)).unwrap_or_default())
                    .collect();
                for secret in secrets {
                    if haystack
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes())
                    {
                        left.push(*secret);
                    }
                }
            }
            Backend::Postgres => {
                for secret in secrets {
                    if !self.tables_containing(secret).await.is_empty() {
                        left.push(*secret);
                    }
                }
            }
        }
        left
    }

    /// Waits until none of `secrets` is stored (see `stored`), or panics after `timeout`.
    pub async fn wait_until_unstored(&self, secrets: &[&str], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.stored(secrets).await;
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "still stored: {left:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A connection to this server's database, SQLite or PostgreSQL alike (sqlx's `Any`), for
    /// tests that check with SQL what is stored.
    pub async fn sql(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(self.database())
            .await
            .expect("connect to the test database")
    }

    /// The tables with a row that contains `needle` anywhere (PostgreSQL only).
    pub async fn tables_containing(&self, needle: &str) -> Vec<String> {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(self.database())
            .await
            .expect("connect to the test database");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .fetch_all(&mut db)
        .await
        .expect("list tables");
        let mut found = Vec::new();
        for table in tables {
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM \"{table}\" t WHERE strpos(t::text, $1) > 0)"
            );
            let holds: bool = sqlx::query_scalar(&sql)
                .bind(needle)
                .fetch_one(&mut db)
                .await
                .expect("search a table");
            if holds {
                found.push(table);
            }
        }
        found
    }

    /// The SQLite database a server started in `dir` uses.
    pub fn database_url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("potluck.db").display())
    }

    /// Kills the server (SIGKILL, no graceful shutdown) and starts it again on
    /// the same database.
    pub fn kill_and_restart(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
        let (child, base) = spawn(
            &self.dir,
            self.database.url(),
            &self.args,
            &self.env,
            self.logging,
        );
        self.child = child;
        self.base = base;
    }

    /// Kills the server with SIGKILL (no graceful shutdown) and leaves it dead.
    /// Takes `&self`, so that a test can kill an instance its other tasks still
    /// hold; they must stop calling it.
    pub fn kill(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid}");
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit; returns how long it
    /// took, or None if it still runs.
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        while started.elapsed() < within {
            if self.child.try_wait().expect("wait").is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `potluck admin ...` on this server's database and returns its stdout.
    pub fn admin(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new(binary())
            .arg("--database-url")
            .arg(self.database.url())
            .arg("admin")
            .args(args)
            .output()
            .expect("run admin");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    /// Creates an account with the admin CLI and returns (id, key).
    pub fn admin_user(&self, name: &str, flags: &[&str]) -> (i64, String) {
        let mut args = vec!["create-user", "--name", name];
        args.extend_from_slice(flags);
        let (ok, out) = self.admin(&args);
        assert!(ok, "{out}");
        let key = out.rsplit(": ").next().unwrap().trim().to_string();
        let id = out
            .split('#')
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        (id, key)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api/v2{path}", self.base));
        if let Some(key) = key {
            request = request.header("apikey", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, key, Some(body)).await
    }

    pub async fn put(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, key, Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, key, None).await
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// Calls a web UI server function as the hydrated page does (a form-encoded POST), as the
    /// browser holding `cookie` if one is given. Redirects are not followed.
    pub async fn server_function(
        &self,
        function: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut request = browser()
            .post(format!("{}/_leptos/{function}", self.base))
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Signs a browser in on the web UI with `key`: the `Set-Cookie` header, and the
    /// `name=value` to send back.
    pub async fn sign_in(&self, key: &str) -> (String, String) {
        let response = self
            .server_function("log_in", &[("apikey", key)], None)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "signing in");
        let set_cookie = response.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        let pair = set_cookie.split(';').next().unwrap().to_string();
        (set_cookie, pair)
    }

    /// Registers a pseudonymous account; returns (id, key).
    pub async fn register(&self, name: &str) -> (i64, String) {
        let (status, body) = self
            .post("/register", None, json!({ "username": name }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["id"].as_i64().unwrap(),
            body["apikey"].as_str().unwrap().to_string(),
        )
    }

    /// Gives an account `kudos`, as an admin does (`PUT /users/{id}`).
    pub async fn grant(&self, user_id: i64, kudos: f64) {
        let name = format!("granter-{}", uuid::Uuid::new_v4().simple());
        let (_, admin) = self.admin_user(&name, &["--admin"]);
        let (status, body) = self
            .put(
                &format!("/users/{user_id}"),
                Some(&admin),
                json!({ "kudos": kudos }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn kudos(&self, key: &str) -> f64 {
        let (status, body) = self.get("/find_user", Some(key)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["kudos"].as_f64().unwrap()
    }

    /// A text worker's pop, advertising `model`.
    pub async fn pop_text(&self, key: &str, worker: &str, model: &str) -> (StatusCode, Value) {
        let body = json!({ "name": worker, "models": [model], "max_length": 512, "max_context_length": 4096 });
        self.post("/generate/text/pop", Some(key), body).await
    }

    pub async fn submit_text_request(&self, key: &str, body: Value) -> String {
        let (status, answer) = self.post("/generate/text/async", Some(key), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    /// Polls until `check` holds for the JSON at `path`, or panics after `timeout`.
    pub async fn wait_for(
        &self,
        path: &str,
        timeout: Duration,
        check: impl Fn(StatusCode, &Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.get(path, None).await;
            if check(status, &body) {
                return body;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting on {path}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    dir: &tempfile::TempDir,
    database_url: &str,
    args: &[String],
    env: &[(String, String)],
    logging: Logging,
) -> (Child, String) {
    let (filter, stderr) = match logging {
        Logging::Errors => ("error", Stdio::inherit()),
        // Appended to, so that a restarted server adds to its log.
        Logging::Captured => (
            "trace",
            Stdio::from(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join(LOG_FILE))
                    .expect("open the server's log"),
            ),
        ),
    };
    let mut child = Command::new(binary())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--database-url")
        .arg(database_url)
        .arg("--site-root")
        .arg(dir.path().join("no-site"))
        // The test models' sizes; a test that gives --model-reference overrides it.
        .env("POTLUCK_MODEL_REFERENCE", MODEL_REFERENCE)
        // Tests send faster than any client should; the limits have tests of their own, which
        // set them with --rate-limits.
        .env("POTLUCK_RATE_LIMITS", "off")
        // PostgreSQL is shared with other applications, and tests start several instances.
        .env("POTLUCK_DATABASE_POOL_SIZE", "4")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("POTLUCK_LOG", filter)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start potluck");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let base = line
        .trim()
        .strip_prefix("potluck listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (child, base)
}

/// The text form as the page sends it, every field filled.
pub const TEXT_FORM: &[(&str, &str)] = &[
    ("form[prompt]", "Hello"),
    ("form[model]", ""),
    ("form[max_length]", "32"),
    ("form[max_context_length]", "1024"),
    ("form[temperature]", "0.7"),
    ("form[top_p]", "0.9"),
    ("form[top_k]", "0"),
    ("form[rep_pen]", "1.1"),
];

/// A minimal WebP header followed by payload bytes: enough for the server, which checks the
/// media type by its magic bytes.
pub fn webp(marker: u8) -> Vec<u8> {
    let mut bytes = b"RIFF\x24\x00\x00\x00WEBPVP8 ".to_vec();
    bytes.extend(std::iter::repeat_n(marker, 32));
    bytes
}

/// A client that follows no redirect, as the web UI's tests want: each answer can be looked at.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Asserts an AI Horde error answer: status and rc.
pub fn assert_error(answer: &(StatusCode, Value), status: StatusCode, rc: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["rc"], rc, "{}", answer.1);
    assert!(
        answer.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        answer.1
    );
}

/// The model of the scoring worker `pop_check` runs.
pub const CHECKED_MODEL: &str = "test/Tiny-1B";

/// Pops the next check for `key`'s trusted scoring worker "checker" (serving CHECKED_MODEL):
/// a job whose payload carries `score_check`. A plain job it is given meanwhile (checks queue
/// behind older requests) it serves with a text of its own.
pub async fn pop_check(server: &Server, key: &str) -> Value {
    for _ in 0..10 {
        let (status, job) = server
            .post(
                "/generate/text/pop",
                Some(key),
                json!({"name": "checker", "models": [CHECKED_MODEL], "can_score": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["score_check"].is_object() {
            return job;
        }
        let id = job["id"].as_str().expect("a check or a job").to_string();
        let (status, _) = server
            .post(
                "/generate/text/submit",
                Some(key),
                json!({"id": id, "generation": "served by the checker"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    panic!("no check for the checker");
}

/// Scores as a checker finds an honest text: every token inside the request's limits and
/// about as probable as the model expects.
pub fn honest_scores() -> Value {
    token_scores(0.5)
}

/// Scores of a text with a token far outside the request's top-k.
pub fn failing_scores() -> Value {
    token_scores(-6.0)
}

fn token_scores(last_margin: f64) -> Value {
    let token = |margin: f64| {
        json!({"token": 5, "rank": 0, "logprob": -1.0, "entropy": 2.0, "nll_variance": 1.0,
               "greedy_margin": 0.0, "top_k_margin": margin})
    };
    json!({"tokens": "reported", "text_matches": true, "greedy": false,
           "scores": [token(1.0), token(2.0), token(0.1), token(last_margin)]})
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

impl Server {
    /// Sends raw bytes to `/api/v2{path}`, with a Content-Type only when given,
    /// and answers like `call`.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api/v2{path}", self.base))
            .body(body);
        if let Some(key) = key {
            request = request.header("apikey", key);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("send");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// The user's details as seen by `viewer` (anonymous when `None`).
    pub async fn user(&self, id: i64, viewer: Option<&str>) -> Value {
        let (status, body) = self.get(&format!("/users/{id}"), viewer).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// An image worker's pop, advertising `model`.
    pub async fn pop_image(&self, key: &str, worker: &str, model: &str) -> (StatusCode, Value) {
        let body = json!({ "name": worker, "models": [model], "max_pixels": 1024 * 1024 });
        self.post("/generate/pop", Some(key), body).await
    }
}
