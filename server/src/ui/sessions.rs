//! The web UI's sessions: tower-sessions, kept in the server's own database (the `web_sessions`
//! table that potluck-core's migrations create), so that every instance on a PostgreSQL
//! database knows every session and a restart signs nobody out.
//!
//! A session exists only once a browser signs in: tower-sessions writes a row and sets the
//! cookie only when a handler puts something into the session, and only the sign-in does.

use axum::Router;
use sqlx::{PgPool, SqlitePool};
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The table, in both databases; its layout is tower-sessions-sqlx-store's.
const TABLE: &str = "web_sessions";
const COOKIE: &str = "potluck_session";
/// How often each instance deletes expired sessions.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Where the sessions are stored: the pool of the server's own store.
pub enum SessionDatabase {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Adds sessions to the UI's routes. `secure_cookie` marks the cookie `Secure`, for a server
/// reached over TLS.
pub fn with_sessions(
    router: Router,
    database: SessionDatabase,
    secure_cookie: bool,
) -> anyhow::Result<Router> {
    Ok(match database {
        SessionDatabase::Sqlite(pool) => {
            let store = SqliteStore::new(pool)
                .with_table_name(TABLE)
                .map_err(anyhow::Error::msg)?;
            add_layer(router, store, secure_cookie)
        }
        SessionDatabase::Postgres(pool) => {
            let store = PostgresStore::new(pool)
                .with_schema_name("public")
                .and_then(|store| store.with_table_name(TABLE))
                .map_err(anyhow::Error::msg)?;
            add_layer(router, store, secure_cookie)
        }
    })
}

fn add_layer<S>(router: Router, store: S, secure_cookie: bool) -> Router
where
    S: SessionStore + ExpiredDeletion + Clone,
{
    let sweeper = store.clone();
    tokio::spawn(async move {
        if let Err(error) = sweeper.continuously_delete_expired(SWEEP_EVERY).await {
            tracing::error!(%error, "deleting expired web sessions stopped");
        }
    });
    let idle_days = app::api::privacy::SESSION_IDLE_DAYS;
    let layer = SessionManagerLayer::new(store)
        .with_name(COOKIE)
        .with_same_site(SameSite::Strict)
        .with_http_only(true)
        .with_secure(secure_cookie)
        .with_expiry(Expiry::OnInactivity(Duration::days(idle_days)));
    router.layer(layer)
}
