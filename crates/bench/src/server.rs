//! A potluck server of the benchmark's own: fresh database, ephemeral port, killed at the end.

use anyhow::{bail, Context};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The line potluck prints once it listens; the address follows it.
const LISTENING: &str = "potluck listening on ";

pub struct SpawnedServer {
    child: Child,
    pub base_url: String,
    /// Holds the SQLite file (unless `--database-url` was given); removed on drop.
    _dir: TempDir,
}

impl SpawnedServer {
    /// Starts `binary` with `extra` flags and waits until it says where it listens.
    pub async fn start(
        binary: &Path,
        database_url: Option<&str>,
        extra: &[String],
    ) -> anyhow::Result<SpawnedServer> {
        let dir = tempfile::Builder::new()
            .prefix("potluck-bench-")
            .tempdir()?;
        let database_url = match database_url {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}", dir.path().join("bench.db").display()),
        };
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--database-url", &database_url])
            // No web UI is needed; an empty site root keeps it from looking for a build.
            .arg("--site-root")
            .arg(dir.path())
            .args(extra)
            // Per-request logging would cost the server time the benchmark is measuring.
            .env(
                "POTLUCK_LOG",
                std::env::var("POTLUCK_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // Its log is relayed to our stderr, where colour codes would be noise in captures.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (build it with `cargo build --release -p server`, or pass --potluck-bin or --server)",
                    binary.display()
                )
            })?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let base_url = tokio::time::timeout(Duration::from_secs(60), listening_address(&mut lines))
            .await
            .context("potluck did not start listening within 60 s")??;
        tokio::spawn(forward_output(lines));
        Ok(SpawnedServer {
            child,
            base_url,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Reads the server's stdout up to the line with its address.
async fn listening_address(lines: &mut Lines<BufReader<ChildStdout>>) -> anyhow::Result<String> {
    while let Some(line) = lines.next_line().await? {
        if let Some(address) = line.trim().strip_prefix(LISTENING) {
            return Ok(address.to_owned());
        }
        eprintln!("[potluck] {line}");
    }
    bail!("potluck exited before listening")
}

/// Keeps draining the server's stdout (its log goes there), so that a full pipe never blocks it.
async fn forward_output(mut lines: Lines<BufReader<ChildStdout>>) {
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("[potluck] {line}");
    }
}
