//! `potluck`: the server binary. Serves the AI Horde API v2 and the web UI
//! from one router, runs the housekeeping sweeps, and has operator commands.

mod api;
mod browser_model;
mod config;
mod logging;
mod login;
mod metrics;
mod openai_api;
mod rate_limits;
mod refusal;
mod sweeper;
mod timeouts;
mod ui;

use anyhow::Context;
use api::{ApiSettings, AppState};
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clap::Parser;
use config::{AdminCommand, Cli, Command, Config};
use potluck_core::relay::Relay;
use potluck_core::{Horde, Kudos, PostgresStore, Roles, SqliteStore, Store};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    logging::init();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve);
    let (horde, sessions) = open(&cli.config, serving).await?;
    let horde = Arc::new(horde);
    match command {
        Command::Serve => serve(cli.config, horde, sessions).await,
        Command::Admin(command) => admin(command, &horde).await,
    }
}

/// The store, (when `serving`) the relay of live events: across instances through PostgreSQL,
/// in memory on SQLite, and the database of the web UI's sessions: the store's own.
async fn open(config: &Config, serving: bool) -> anyhow::Result<(Horde, ui::SessionDatabase)> {
    tracing::info!(database = %config::redacted(&config.database_url), "opening the database");
    let url = &config.database_url;
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (store, relay, sessions): (Arc<dyn Store>, _, _) = if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await?;
        let sessions = ui::SessionDatabase::Sqlite(store.write_pool().clone());
        (Arc::new(store), Relay::in_memory(), sessions)
    } else if postgres {
        let store = PostgresStore::connect(url, config.database_pool_size).await?;
        let relay = match serving {
            true => Relay::postgres(store.pool().clone()).await?,
            false => Relay::in_memory(),
        };
        let sessions = ui::SessionDatabase::Postgres(store.pool().clone());
        (Arc::new(store), relay, sessions)
    } else {
        anyhow::bail!(
            "unsupported database URL {:?}: use sqlite://FILE or postgres://USER@HOST/DATABASE",
            config::redacted(url)
        );
    };
    Ok((Horde::new(store, config.policy()?, relay), sessions))
}

async fn serve(
    config: Config,
    horde: Arc<Horde>,
    sessions: ui::SessionDatabase,
) -> anyhow::Result<()> {
    let login = Arc::new(login::LoginProviders::new(
        config.login_providers()?,
        config.public_url.clone(),
    )?);
    let documents = api::Documents {
        terms: Config::document(config.terms.as_ref())?,
        sponsors: Config::document(config.sponsors.as_ref())?,
        source_url: config.source_url.clone(),
        login_labels: login
            .offers()
            .into_iter()
            .map(|offer| offer.label)
            .collect(),
    };
    let settings = Arc::new(ApiSettings {
        public_url: config.public_url.clone(),
        client_ip_header: config.client_ip_header.clone(),
        openai_timeout: std::time::Duration::from_secs(config.openai_timeout_secs),
        documents,
    });
    // Shared by all instances, so per-client limits hold behind a load balancer; refreshed by
    // every sweep after this.
    horde.refresh_address_secrets().await?;
    horde.fill_name_likeness().await?;
    horde.refresh_address_blocks().await?;
    let browser_model = match config.browser_model.clone() {
        Some(path) => {
            let model =
                browser_model::ModelFile::open(path, config.browser_model_name.clone()).await?;
            model.compare_with(&horde.policy().model_reference);
            Some(Arc::new(model))
        }
        None => None,
    };
    let ui_settings = ui::UiSettings {
        site_root: config.site_root.clone(),
        identity: app::caller::ClientIdentity({
            let state = AppState {
                horde: horde.clone(),
                settings: settings.clone(),
            };
            Arc::new(move |parts| api::client_hash(&state, parts))
        }),
        sessions,
        secure_cookie: config
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://")),
        browser_model: browser_model.as_ref().map(|model| model.offer().clone()),
        login,
    };
    let state = AppState {
        horde: horde.clone(),
        settings,
    };
    let limiter = Arc::new(rate_limits::Limiter::new(&config.rate_limits));
    let limiter_cleaner = limiter.spawn_cleaner(std::time::Duration::from_secs(60));
    let metrics = config.metrics.then(metrics::install).transpose()?;
    let app = api::router(state.clone())
        .merge(metrics::routes(horde.clone(), metrics))
        .merge(openai_api::router(state.clone()))
        .merge(browser_model::routes(browser_model))
        .merge(ui::routes(horde.clone(), ui_settings)?)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            timeouts::refuse_timed_out,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (state, limiter),
            rate_limits::limit,
        ))
        // Without --metrics nothing would record what it measures: it is not there at all.
        .layer(tower::util::option_layer(
            config
                .metrics
                .then(|| axum::middleware::from_fn(metrics::track)),
        ))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            api::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Internal error",
            )
            .into_response()
        }));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    // Tests and scripts read this line to find the port when listening on port 0.
    // Ignore a closed stdout: the line is a courtesy, not a reason to stop.
    let _ = writeln!(std::io::stdout(), "potluck listening on http://{address}");
    tracing::info!(?config, "serving");
    let sweeps = sweeper::spawn(
        horde,
        std::time::Duration::from_millis(config.sweep_interval_ms),
    );
    // On a signal, new connections stop and those in flight may finish, within the grace
    // period: a stream that would go on for minutes is then cut off.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
    });
    let stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stopped| *stopped).await;
    };
    let serving = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stopping.clone()));
    let grace = std::time::Duration::from_secs(config.shutdown_grace_secs);
    tokio::select! {
        served = serving => served?,
        () = async { stopped(stopping).await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "connections still open after the grace period were cut off");
        }
    }
    sweeps.abort();
    limiter_cleaner.abort();
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}

async fn admin(command: AdminCommand, horde: &Horde) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser {
            name,
            moderator,
            trusted,
            admin,
        } => {
            let roles = Roles {
                admin: Some(admin),
                moderator: Some(moderator),
                trusted: Some(trusted),
            };
            let account = horde.create_account(&name, roles).await?;
            println!(
                "created {} (admin: {admin}, moderator: {moderator}, trusted: {trusted})",
                account.username
            );
            println!(
                "API key (shown once, cannot be recovered): {}",
                account.apikey
            );
        }
        AdminCommand::SetRole {
            user,
            admin,
            moderator,
            trusted,
        } => {
            let roles = Roles {
                admin,
                moderator,
                trusted,
            };
            let account = horde.set_roles(user, roles).await?;
            println!(
                "{} is now admin: {}, moderator: {}, trusted: {}",
                account.alias(),
                account.admin,
                account.moderator,
                account.trusted
            );
        }
        AdminCommand::IssueKey { user } => {
            let key = horde.issue_key(user).await?;
            println!(
                "new API key for user {user} (shown once; the old key no longer works): {key}"
            );
        }
        AdminCommand::Backup { file } => {
            let path = file
                .to_str()
                .context("the backup's path is not valid UTF-8")?;
            horde.backup(path).await?;
            println!("backed up to {path}");
        }
        AdminCommand::AuditKudos => {
            let mismatches = horde.audit_kudos().await?;
            if mismatches.is_empty() {
                println!("every balance equals its ledger (spendable and held)");
            } else {
                for m in &mismatches {
                    println!(
                        "user {}: balance {}, ledger {}; held {}, held ledger {}",
                        m.user_id,
                        Kudos(m.kudos),
                        Kudos(m.ledger),
                        Kudos(m.held_kudos),
                        Kudos(m.held_ledger)
                    );
                }
                anyhow::bail!("{} accounts disagree with their ledger", mismatches.len());
            }
        }
    }
    Ok(())
}
