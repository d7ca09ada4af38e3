//! The command line, and the config file whose values fill what the command line leaves out.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "potluck-worker",
    version,
    about = "Serve text jobs of a Potluck (or AI Horde) server with this machine's GPU, or bridge a local OpenAI-compatible server",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate one text here, as a job with these parameters would be, and print it (a check
    /// of the model and the GPU before joining).
    Generate(GenerateArgs),
    /// Put the worker in maintenance mode (it finishes its current jobs and takes no more, until
    /// `maintenance off`), or take it out.
    Maintenance(MaintenanceArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Args)]
pub struct MaintenanceArgs {
    pub switch: Switch,
    /// Shown to whoever looks at the worker.
    #[arg(long)]
    pub message: Option<String>,
    /// --config, --server, --api-key and --name as for running the worker.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Potluck's engine, with a model file on this machine. Once the server trusts the worker,
    /// it also checks other workers' text generated with the same model.
    Engine,
    /// A local OpenAI-compatible server (llama.cpp, vLLM, Ollama, KoboldCpp, ...).
    Openai,
}

/// What generates: shared by running and by `generate`.
#[derive(Args, Clone, Default)]
pub struct BackendArgs {
    /// engine (default) or openai.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// engine: a .gguf file or a Hugging Face model directory.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The model's name on the server (default: the model file's name, or --backend-model).
    #[arg(long)]
    pub model_name: Option<String>,
    /// openai: the server's address, e.g. http://127.0.0.1:8081/v1.
    #[arg(long)]
    pub backend_url: Option<String>,
    /// openai: the model to ask it for.
    #[arg(long)]
    pub backend_model: Option<String>,
    /// openai: a key for it, if it wants one.
    #[arg(
        long,
        env = "POTLUCK_BACKEND_API_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub backend_api_key: Option<String>,
    /// Most tokens generated for one job (default 512; for the engine, also what this machine
    /// generates within the server's time limit).
    #[arg(long)]
    pub max_length: Option<u32>,
    /// Most tokens of prompt and answer together (default 4096, at most the model's).
    #[arg(long)]
    pub max_context_length: Option<u32>,
}

#[derive(Args, Clone, Default)]
pub struct RunArgs {
    /// A TOML file with any of these options, named as the flags with `_` for `-`
    /// (`api_key = "..."`); flags given here win.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The server (default http://127.0.0.1:8080).
    #[arg(long, env = "POTLUCK_SERVER")]
    pub server: Option<String>,
    /// Your API key: the worker's kudos go to its account.
    // Keys may begin with `-` (they are base64url): take such a value as the key, not a flag.
    #[arg(
        long,
        env = "POTLUCK_API_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub api_key: Option<String>,
    /// The worker's name, unique on the server.
    #[arg(long, env = "POTLUCK_WORKER_NAME")]
    pub name: Option<String>,
    /// Jobs at once (default 1).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Take requests marked NSFW.
    #[arg(long)]
    pub nsfw: bool,
    /// Say that this worker keeps prompts or results it is given (logs, caches, training):
    /// requests that ask for workers that keep nothing then pass it by.
    #[arg(long)]
    pub keeps_prompts: bool,
    /// Plain log lines instead of the live status line.
    #[arg(long)]
    pub no_status: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The config file: the options of [`RunArgs`], by the same names.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    api_key: Option<String>,
    name: Option<String>,
    threads: Option<u32>,
    nsfw: Option<bool>,
    keeps_prompts: Option<bool>,
    no_status: Option<bool>,
    backend: Option<BackendKind>,
    model: Option<PathBuf>,
    model_name: Option<String>,
    backend_url: Option<String>,
    backend_model: Option<String>,
    backend_api_key: Option<String>,
    max_length: Option<u32>,
    max_context_length: Option<u32>,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[arg(long)]
    pub prompt: String,
    /// The job's parameters as the AI Horde takes them, as JSON (e.g. '{"max_length": 64,
    /// "temperature": 0}').
    #[arg(long, default_value = "{}")]
    pub params: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
pub const DEFAULT_MAX_LENGTH: u32 = 512;
pub const DEFAULT_MAX_CONTEXT: u32 = 4096;

impl RunArgs {
    /// Fills what the command line left out from the config file, if one was named.
    pub fn with_config_file(mut self) -> anyhow::Result<Self> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let file = read_config(&path)?;
        self.server = self.server.or(file.server);
        self.api_key = self.api_key.or(file.api_key);
        self.name = self.name.or(file.name);
        self.threads = self.threads.or(file.threads);
        self.nsfw |= file.nsfw.unwrap_or(false);
        self.keeps_prompts |= file.keeps_prompts.unwrap_or(false);
        self.no_status |= file.no_status.unwrap_or(false);
        let b = &mut self.backend;
        b.backend = b.backend.or(file.backend);
        b.model = b.model.take().or(file.model);
        b.model_name = b.model_name.take().or(file.model_name);
        b.backend_url = b.backend_url.take().or(file.backend_url);
        b.backend_model = b.backend_model.take().or(file.backend_model);
        b.backend_api_key = b.backend_api_key.take().or(file.backend_api_key);
        b.max_length = b.max_length.or(file.max_length);
        b.max_context_length = b.max_context_length.or(file.max_context_length);
        Ok(self)
    }

    pub fn required(&self) -> anyhow::Result<(&str, &str)> {
        let key = self.api_key.as_deref().filter(|k| !k.is_empty());
        let name = self.name.as_deref().filter(|n| !n.trim().is_empty());
        match (key, name) {
            (Some(key), Some(name)) => Ok((key, name)),
            (None, _) => {
                bail!("no API key: give --api-key, POTLUCK_API_KEY or api_key in the config file")
            }
            (_, None) => {
                bail!("no worker name: give --name, POTLUCK_WORKER_NAME or name in the config file")
            }
        }
    }
}

fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid config file", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_fills_what_flags_leave_out() {
        let dir =
            std::env::temp_dir().join(format!("potluck-worker-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("worker.toml");
        std::fs::write(
            &path,
            "server = \"http://h:1\"\napi_key = \"k\"\nname = \"from-file\"\nmax_length = 64\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "potluck-worker",
            "--config",
            path.to_str().unwrap(),
            "--name",
            "from-flag",
        ]);
        let run = cli.run.with_config_file().unwrap();
        assert_eq!(run.server.as_deref(), Some("http://h:1"));
        assert_eq!(run.required().unwrap(), ("k", "from-flag"));
        assert_eq!(run.backend.max_length, Some(64));

        std::fs::write(&path, "nmae = \"typo\"\n").unwrap();
        let cli = Cli::parse_from(["potluck-worker", "--config", path.to_str().unwrap()]);
        assert!(
            cli.run.with_config_file().is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn a_key_that_begins_with_a_hyphen_is_a_key() {
        let cli = Cli::parse_from(["potluck-worker", "--api-key", "-R3x_k", "--name", "n"]);
        assert_eq!(cli.run.required().unwrap(), ("-R3x_k", "n"));
    }
}
