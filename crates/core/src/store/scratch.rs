//! Throwaway PostgreSQL databases for test suites: each test gets a fresh,
//! empty database of its own on a shared server, dropped when it is done, so
//! tests run in parallel without seeing each other's rows.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The server the test suites use unless `POTLUCK_TEST_POSTGRES` names another.
pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Why no scratch database could be made.
#[derive(Debug)]
pub enum ScratchError {
    /// No PostgreSQL answered at the admin URL (or it refused us): suites
    /// skip their PostgreSQL half.
    Unreachable { server: String, cause: String },
    /// The server answered but would not create the database: a real failure.
    Failed(sqlx::Error),
}

impl fmt::Display for ScratchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScratchError::Unreachable { server, cause } => {
                write!(f, "PostgreSQL not reachable at {server}: {cause}")
            }
            ScratchError::Failed(e) => write!(f, "cannot create a scratch database: {e}"),
        }
    }
}

/// A database created for one test and dropped (with whoever is still
/// connected to it) when this value is.
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// The admin URL: `POTLUCK_TEST_POSTGRES`, else [`DEFAULT_TEST_POSTGRES`].
    pub fn admin_url() -> String {
        std::env::var("POTLUCK_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.into())
    }

    /// Creates a uniquely named database on the server of `admin_url`, whose
    /// user must be allowed to create databases.
    pub async fn create(admin_url: &str) -> Result<ScratchDatabase, ScratchError> {
        let admin = PgConnectOptions::from_str(admin_url).map_err(ScratchError::Failed)?;
        let unreachable = |cause: String| ScratchError::Unreachable {
            server: describe(&admin),
            cause,
        };
        let mut connection = tokio::time::timeout(Duration::from_secs(5), admin.connect())
            .await
            .map_err(|_| unreachable("no answer within 5 s".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let name = format!(
            "potluck_test_{}_{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut connection)
            .await
            .map_err(ScratchError::Failed)?;
        let _ = connection.close().await;
        Ok(ScratchDatabase {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_string(),
            name,
        })
    }

    /// [`create`](Self::create) for synchronous callers, even inside an async
    /// runtime (it runs on a thread of its own).
    pub fn create_blocking(admin_url: &str) -> Result<ScratchDatabase, ScratchError> {
        let admin_url = admin_url.to_string();
        on_own_runtime(async move { ScratchDatabase::create(&admin_url).await })
    }

    /// The database's URL, with the admin URL's user, password and options.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = on_own_runtime(async move {
            let mut connection = PgConnection::connect(&admin_url).await?;
            // FORCE: a server the test killed may not have closed its connections yet.
            sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut connection)
                .await?;
            connection.close().await
        });
        if let Err(e) = dropped {
            eprintln!("warning: scratch database {} not dropped: {e}", self.name);
        }
    }
}

/// Runs `work` to completion on a fresh single-threaded runtime in a thread of
/// its own: blocking the caller is fine, nesting runtimes is not.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the scratch database")
            .block_on(work)
    })
    .join()
    .expect("the scratch database thread panicked")
}

/// `user@host:port/database`, without the password, for messages.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// `url` with its database (the path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_the_path_only() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
