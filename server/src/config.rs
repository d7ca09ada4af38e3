//! The server's configuration: one typed struct from CLI flags and `POTLUCK_*`
//! environment variables.

use crate::login::{self, Endpoints, Protocol, ProviderConfig};
use crate::rate_limits::RateLimits;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use openidconnect::{AuthUrl, ClientId, ClientSecret, IssuerUrl, TokenUrl};
use potluck_core::model_reference::ModelReference;
use potluck_core::{OutboundPolicy, Policy, TrustPolicy};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "potluck",
    version,
    about = "Potluck: a free, crowdsourced inference cluster (AI Horde API v2)"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API and the web UI (the default).
    Serve,
    /// Operator tasks on the database.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an account and print its API key (shown once).
    CreateUser {
        /// The account's name.
        #[arg(long)]
        name: String,
        /// Give the account moderator rights.
        #[arg(long)]
        moderator: bool,
        /// Mark the account as trusted (its workers take trusted-only requests).
        #[arg(long)]
        trusted: bool,
        /// Make the account an admin: it grants kudos and the moderator role
        /// (`PUT /api/v2/users/{id}`).
        #[arg(long)]
        admin: bool,
    },
    /// Give an account roles, or take them away; roles not named stay as they are.
    SetRole {
        /// The account's id (the number after '#').
        #[arg(long)]
        user: i64,
        /// Admin: grants kudos and the moderator role.
        #[arg(long)]
        admin: Option<bool>,
        #[arg(long)]
        moderator: Option<bool>,
        /// Its workers take trusted-only requests and may check others' work.
        #[arg(long)]
        trusted: Option<bool>,
    },
    /// Replace an account's API key with a new one and print it; the old key stops working.
    IssueKey {
        /// The account's id (the number after '#').
        #[arg(long)]
        user: i64,
    },
    /// Check that every balance equals the sum of its kudos ledger.
    AuditKudos,
    /// Write a consistent copy of the SQLite database to FILE (which must not exist), while
    /// the server runs. PostgreSQL: use pg_dump (docs/operating.md#backups).
    Backup {
        /// Where the copy goes.
        file: std::path::PathBuf,
    },
}

#[derive(Args, Clone)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "POTLUCK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database URL: `sqlite://FILE` (one instance; the file is created and migrated at start),
    /// or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (any number of instances sharing the
    /// database, which must exist; it is migrated at start).
    #[arg(
        long,
        env = "POTLUCK_DATABASE_URL",
        default_value = "sqlite://potluck.db"
    )]
    pub database_url: String,

    /// PostgreSQL: the most connections this instance opens (one more listens for the other
    /// instances' events). Instances × (this + 1) must stay within the database's
    /// `max_connections`, less what other applications hold (docs/operating.md).
    #[arg(long, env = "POTLUCK_DATABASE_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool_size: u32,

    /// Serve `/metrics` in the Prometheus text format (request, job, queue and worker
    /// figures; no prompt, key, address or account in any label). Keep it to your monitoring,
    /// e.g. at the reverse proxy.
    #[arg(long, env = "POTLUCK_METRICS")]
    pub metrics: bool,

    /// On SIGTERM or Ctrl-C: seconds the requests and streams in flight have to finish before
    /// the server exits anyway.
    #[arg(long, env = "POTLUCK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// The URL clients reach this server at, used in image and upload links.
    /// Default: taken from each request's Host header.
    #[arg(long, env = "POTLUCK_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The web UI's built site (written by scripts/build-frontend.sh).
    #[arg(long, env = "POTLUCK_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Header holding the client's address when behind a reverse proxy (e.g. X-Forwarded-For).
    /// Only used, hashed, to limit concurrent anonymous requests per client.
    #[arg(long, env = "POTLUCK_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,

    /// Largest request body accepted, in bytes (images are submitted inline).
    #[arg(long, env = "POTLUCK_MAX_BODY_BYTES", default_value_t = 24 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds a text worker has to submit a popped job.
    #[arg(long, env = "POTLUCK_TEXT_JOB_TTL", default_value_t = 150)]
    pub text_job_ttl_secs: u64,

    /// Give every job exactly this many seconds, text and image (for tests).
    #[arg(long, env = "POTLUCK_JOB_TTL_OVERRIDE")]
    pub job_ttl_override_secs: Option<u64>,

    /// Seconds without activity after which a waiting request expires.
    #[arg(long, env = "POTLUCK_REQUEST_EXPIRY", default_value_t = 20 * 60)]
    pub request_expiry_secs: u64,

    /// Lease expiries a generation survives before its request faults.
    #[arg(long, env = "POTLUCK_MAX_RESTARTS", default_value_t = 3)]
    pub max_restarts: u32,

    /// Seconds results are kept after the requester fetched them.
    #[arg(long, env = "POTLUCK_RESULT_RETENTION", default_value_t = 10 * 60)]
    pub result_retention_secs: u64,

    /// Seconds the metadata of finished requests (no prompts or results) is kept for statistics.
    #[arg(long, env = "POTLUCK_HISTORY_RETENTION", default_value_t = 24 * 60 * 60)]
    pub history_retention_secs: u64,

    /// Seconds a client address hash can be tied to its address: the secret of the hashes is
    /// replaced this often, and hashes older than this are dropped.
    #[arg(long, env = "POTLUCK_ADDRESS_HASH_LIFETIME", default_value_t = 24 * 60 * 60,
          value_parser = clap::value_parser!(u64).range(60..))]
    pub address_hash_lifetime_secs: u64,

    /// Seconds without a pop after which a worker counts as offline.
    #[arg(long, env = "POTLUCK_WORKER_STALE", default_value_t = 5 * 60)]
    pub worker_stale_secs: u64,

    /// Milliseconds between housekeeping sweeps (lease expiry, request expiry, purge).
    #[arg(long, env = "POTLUCK_SWEEP_INTERVAL_MS", default_value_t = 5_000)]
    pub sweep_interval_ms: u64,

    /// Private server: no anonymous use, no self-registration; accounts come from
    /// `potluck admin create-user`. The environment variable takes true/false, yes/no, 1/0.
    #[arg(long, env = "POTLUCK_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub private: bool,

    /// Active requests one anonymous client may have at once.
    #[arg(long, env = "POTLUCK_ANONYMOUS_CONCURRENCY", default_value_t = 10)]
    pub anonymous_concurrency: u32,

    /// Active requests a registered user may have at once (moderators can change it per user).
    #[arg(long, env = "POTLUCK_DEFAULT_CONCURRENCY", default_value_t = 30)]
    pub default_concurrency: u32,

    /// Request rate limits per client address (and per API key), per instance: the defaults,
    /// changed by comma-separated `CLASS=COUNT/UNIT[:BURST]` entries (units s, m, h; BURST: how
    /// many at once) or `CLASS=off`; `off` alone turns them all off. The classes and their
    /// defaults: register=5/m:5, generate=90/m:10, status=600/m:60, pop=3600/m:120,
    /// submit=3600/m:120, transfer=60/m:5, ui=600/m:60, api=600/m:120, pages=1200/m:200.
    #[arg(long, env = "POTLUCK_RATE_LIMITS", default_value = "")]
    pub rate_limits: RateLimits,

    /// Seconds a `/v1` (OpenAI-compatible) request waits for its result before it is cancelled
    /// and answered with a timeout error.
    #[arg(long, env = "POTLUCK_OPENAI_TIMEOUT", default_value_t = 300)]
    pub openai_timeout_secs: u64,

    /// A model file (GGUF) the Contribute page offers to browsers, served at /models/FILE. It is
    /// hashed at start, so replacing it needs a restart.
    #[arg(long, env = "POTLUCK_BROWSER_MODEL")]
    pub browser_model: Option<PathBuf>,

    /// The browser model's name on the cluster, which requesters ask for.
    /// Default: the file's name without its extension.
    #[arg(
        long,
        env = "POTLUCK_BROWSER_MODEL_NAME",
        requires = "browser_model",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub browser_model_name: Option<String>,

    /// An OpenID Connect provider to sign in with, as ID=ISSUER_URL (for example
    /// google=https://accounts.google.com); repeat the flag for several, or separate them with
    /// spaces in the environment variable. Its client comes from POTLUCK_OIDC_<ID>_CLIENT_ID and
    /// POTLUCK_OIDC_<ID>_CLIENT_SECRET (ID in capitals, '-' as '_'), the label of its button
    /// from POTLUCK_OIDC_<ID>_LABEL (default: the ID). Register <public URL>/auth/<ID>/callback
    /// with the provider as the redirect URI.
    #[arg(
        long = "oidc-provider",
        env = "POTLUCK_OIDC_PROVIDERS",
        value_delimiter = ' ',
        value_parser = parse_oidc_provider
    )]
    pub oidc_providers: Vec<OidcProvider>,

    /// A plain OAuth2 provider to sign in with: `github`, `discord`, or an ID of your own whose
    /// endpoints come from POTLUCK_OAUTH2_<ID>_AUTHORIZE_URL, _TOKEN_URL and _USER_URL (the user
    /// endpoint's field with the id from _USER_ID_FIELD, default `id`; scopes from _SCOPES).
    /// Repeat the flag for several, or separate them with spaces in the environment variable.
    /// Its client comes from POTLUCK_OAUTH2_<ID>_CLIENT_ID and _CLIENT_SECRET, its label from
    /// _LABEL. Register <public URL>/auth/<ID>/callback with the provider as the redirect URI.
    #[arg(
        long = "oauth2-provider",
        env = "POTLUCK_OAUTH2_PROVIDERS",
        value_delimiter = ' ',
        value_parser = parse_provider_id
    )]
    pub oauth2_providers: Vec<String>,

    /// The operator's news: a JSON list of pieces in the AI Horde's format (`date_published`
    /// as YYYY-MM-DD, `newspiece`, `importance`, `tags`, `title`, `more_info_urls`), served at
    /// /api/v2/status/news and on the home page. Default: none.
    #[arg(long, env = "POTLUCK_NEWS")]
    pub news: Option<PathBuf>,

    /// The terms of service, in Markdown, served at /api/v2/documents/terms. Default: a note
    /// that this server publishes none.
    #[arg(long, env = "POTLUCK_TERMS")]
    pub terms: Option<PathBuf>,

    /// The sponsors to thank, in Markdown, served at /api/v2/documents/sponsors. Default: a
    /// note that this server lists none.
    #[arg(long, env = "POTLUCK_SPONSORS")]
    pub sponsors: Option<PathBuf>,

    /// Where this server's source code is published: `repository` in /.well-known/serviceinfo.
    #[arg(long, env = "POTLUCK_SOURCE_URL", default_value = "")]
    pub source_url: String,

    /// Let the server's own requests (interrogation images fetched from URLs, webhooks) reach
    /// loopback, private, link-local and other non-public addresses. Off, they reach public
    /// addresses only, so that no user can make the server call into its own network. For tests
    /// and closed networks only.
    #[arg(long, env = "POTLUCK_OUTBOUND_ALLOW_PRIVATE_ADDRESSES",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub outbound_allow_private_addresses: bool,

    /// Accept webhooks over plain http too (the AI Horde accepts https only). For tests.
    #[arg(long, env = "POTLUCK_WEBHOOK_ALLOW_HTTP",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_http: bool,

    #[command(flatten)]
    pub trust: TrustArgs,
}

/// How untrusted workers' results are verified before they are paid (docs/trust.md).
#[derive(Args, Clone, Debug)]
pub struct TrustArgs {
    /// The model reference: the models the cluster knows and their sizes, which rewards read
    /// (a JSON file in the format of crates/core/data/model-reference.json). Default: the one
    /// shipped with Potluck.
    #[arg(long, env = "POTLUCK_MODEL_REFERENCE")]
    pub model_reference: Option<PathBuf>,

    /// Checks a worker must pass in a row (since its last failed one) before not every one of
    /// its jobs is checked, and before a passed check releases its held kudos.
    #[arg(long, env = "POTLUCK_INITIAL_CHECKS", default_value_t = 10)]
    pub initial_checks: u32,

    /// The least share of an untrusted worker's jobs that is checked, however clean its record.
    #[arg(long, env = "POTLUCK_CHECK_RATE_FLOOR", default_value_t = 0.05,
          value_parser = parse_share)]
    pub check_rate_floor: f64,

    /// Passed checks, with none failed, after which a worker is trusted automatically.
    #[arg(long, env = "POTLUCK_AUTO_TRUST_CHECKS", default_value_t = 50)]
    pub auto_trust_checks: u32,

    /// ... if it exists for at least this many seconds.
    #[arg(long, env = "POTLUCK_AUTO_TRUST_AGE", default_value_t = 7 * 24 * 60 * 60)]
    pub auto_trust_age_secs: u64,

    /// Failed checks at which a worker is paused.
    #[arg(long, env = "POTLUCK_PAUSE_AFTER_FAILED_CHECKS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pause_after_failed_checks: u32,

    /// Seconds a check waits for a trusted checker before it is given up (the checked job's
    /// reward stays held until a later check of its worker passes). A check holds a copy of the
    /// prompt and result until it is done or given up.
    #[arg(long, env = "POTLUCK_CHECK_EXPIRY", default_value_t = 20 * 60)]
    pub check_expiry_secs: u64,
}

/// A share between 0 and 1.
fn parse_share(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("{value:?} is not a number from 0 to 1")),
    }
}

/// `--oidc-provider ID=ISSUER_URL`.
#[derive(Clone, Debug)]
pub struct OidcProvider {
    pub id: String,
    pub issuer: String,
}

fn parse_oidc_provider(value: &str) -> Result<OidcProvider, String> {
    let (id, issuer) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?}: use ID=ISSUER_URL"))?;
    let id = parse_provider_id(id)?;
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(format!("{issuer:?}: the issuer is an http(s) URL"));
    }
    Ok(OidcProvider {
        id,
        issuer: issuer.to_string(),
    })
}

fn parse_provider_id(id: &str) -> Result<String, String> {
    let id_ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match id_ok {
        true => Ok(id.to_string()),
        false => Err(format!(
            "{id:?}: a provider's ID is lower-case letters, digits and '-'"
        )),
    }
}

impl Config {
    pub fn policy(&self) -> anyhow::Result<Policy> {
        let model_reference = match &self.trust.model_reference {
            Some(path) => Arc::new(ModelReference::load(path)?),
            None => ModelReference::bundled(),
        };
        let trust = TrustPolicy {
            initial_checks: self.trust.initial_checks,
            check_rate_floor: self.trust.check_rate_floor,
            auto_trust_checks: self.trust.auto_trust_checks,
            auto_trust_age: Duration::from_secs(self.trust.auto_trust_age_secs),
            pause_after_failed_checks: self.trust.pause_after_failed_checks,
            check_expiry: Duration::from_secs(self.trust.check_expiry_secs),
            ..TrustPolicy::default()
        };
        Ok(Policy {
            private: self.private,
            text_job_ttl: Duration::from_secs(self.text_job_ttl_secs),
            job_ttl_override: self.job_ttl_override_secs.map(Duration::from_secs),
            request_expiry: Duration::from_secs(self.request_expiry_secs),
            max_restarts: self.max_restarts,
            result_retention: Duration::from_secs(self.result_retention_secs),
            history_retention: Duration::from_secs(self.history_retention_secs),
            address_hash_lifetime: Duration::from_secs(self.address_hash_lifetime_secs),
            worker_stale: Duration::from_secs(self.worker_stale_secs),
            anonymous_concurrency: self.anonymous_concurrency,
            default_concurrency: self.default_concurrency,
            model_reference,
            trust,
            news: Arc::new(self.news()?),
            outbound: OutboundPolicy {
                allow_private_addresses: self.outbound_allow_private_addresses,
                allow_http_webhooks: self.webhook_allow_http,
            },
            ..Policy::default()
        })
    }

    /// The news file's pieces, newest first (none without a file).
    fn news(&self) -> anyhow::Result<Vec<protocol::Newspiece>> {
        let Some(path) = &self.news else {
            return Ok(Vec::new());
        };
        let read = || -> anyhow::Result<Vec<protocol::Newspiece>> {
            let mut news: Vec<protocol::Newspiece> = serde_json::from_slice(&std::fs::read(path)?)?;
            // ISO dates sort as text.
            news.sort_by(|a, b| b.date_published.cmp(&a.date_published));
            Ok(news)
        };
        read().with_context(|| format!("the news file {}", path.display()))
    }

    /// An operator's document (Markdown), if one was given.
    pub fn document(path: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
        path.map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("the document {}", path.display()))
        })
        .transpose()
    }
}

impl Config {
    /// The login providers, each completed from its environment variables.
    pub fn login_providers(&self) -> anyhow::Result<Vec<ProviderConfig>> {
        let oidc = self.oidc_providers.iter().map(oidc_provider);
        let oauth2 = self.oauth2_providers.iter().map(|id| oauth2_provider(id));
        oidc.chain(oauth2).collect()
    }
}

fn oidc_provider(provider: &OidcProvider) -> anyhow::Result<ProviderConfig> {
    let issuer = IssuerUrl::new(provider.issuer.clone())
        .with_context(|| format!("login provider {:?}: bad issuer URL", provider.id))?;
    ProviderVars::new("OIDC", &provider.id).config(None, Protocol::OpenIdConnect(issuer))
}

/// A plain OAuth2 provider: a preset's endpoints unless the variables give others.
fn oauth2_provider(id: &str) -> anyhow::Result<ProviderConfig> {
    let vars = ProviderVars::new("OAUTH2", id);
    let (preset, label) = match login::preset(id) {
        Some((endpoints, label)) => (Some(endpoints), Some(label)),
        None => (None, None),
    };
    let url = |what: &str, preset: Option<String>| {
        vars.get(what)
            .or(preset)
            .with_context(|| format!("login provider {id:?}: {} is not set", vars.name(what)))
    };
    let preset = preset.as_ref();
    let endpoints = Endpoints {
        authorize: AuthUrl::new(url(
            "AUTHORIZE_URL",
            preset.map(|p| p.authorize.to_string()),
        )?)?,
        token: TokenUrl::new(url("TOKEN_URL", preset.map(|p| p.token.to_string()))?)?,
        user: url("USER_URL", preset.map(|p| p.user.to_string()))?.parse()?,
        id_field: vars
            .get("USER_ID_FIELD")
            .or(preset.map(|p| p.id_field.clone()))
            .unwrap_or_else(|| "id".into()),
        scopes: match vars.get("SCOPES") {
            Some(scopes) => scopes.split_whitespace().map(str::to_string).collect(),
            None => preset.map(|p| p.scopes.clone()).unwrap_or_default(),
        },
    };
    vars.config(label, Protocol::OAuth2(Box::new(endpoints)))
}

/// A provider's environment variables: `POTLUCK_<KIND>_<ID>_<WHAT>`, the ID in capitals with
/// '-' as '_'.
struct ProviderVars {
    prefix: String,
    id: String,
}

impl ProviderVars {
    fn new(kind: &str, id: &str) -> Self {
        ProviderVars {
            prefix: format!("POTLUCK_{kind}_{}_", id.to_uppercase().replace('-', "_")),
            id: id.to_string(),
        }
    }

    fn name(&self, what: &str) -> String {
        format!("{}{what}", self.prefix)
    }

    fn get(&self, what: &str) -> Option<String> {
        std::env::var(self.name(what))
            .ok()
            .filter(|v| !v.is_empty())
    }

    fn config(&self, label: Option<&str>, protocol: Protocol) -> anyhow::Result<ProviderConfig> {
        let client_id = self.get("CLIENT_ID").with_context(|| {
            format!(
                "login provider {:?}: {} is not set",
                self.id,
                self.name("CLIENT_ID")
            )
        })?;
        Ok(ProviderConfig {
            label: self
                .get("LABEL")
                .or(label.map(str::to_string))
                .unwrap_or_else(|| self.id.clone()),
            id: self.id.clone(),
            client_id: ClientId::new(client_id),
            client_secret: self.get("CLIENT_SECRET").map(ClientSecret::new),
            protocol,
        })
    }
}

/// The database URL with any password replaced, for logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redacted(&self.database_url))
            .field("database_pool_size", &self.database_pool_size)
            .field("metrics", &self.metrics)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("public_url", &self.public_url)
            .field("private", &self.private)
            .field("site_root", &self.site_root)
            .field("browser_model", &self.browser_model)
            .field("oidc_providers", &self.oidc_providers)
            .field("oauth2_providers", &self.oauth2_providers)
            .field("sweep_interval_ms", &self.sweep_interval_ms)
            .field("rate_limits", &self.rate_limits)
            .field(
                "outbound_allow_private_addresses",
                &self.outbound_allow_private_addresses,
            )
            .field("webhook_allow_http", &self.webhook_allow_http)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redacted("postgres://u:secret@db:5432/p"),
            "postgres://u:***@db:5432/p"
        );
        assert_eq!(redacted("sqlite://potluck.db"), "sqlite://potluck.db");
    }
}
