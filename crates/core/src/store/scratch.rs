//! Throwaway PostgreSQL databases for test suites: each test gets a fresh, migrated database of
//! its own on a shared server, dropped when it is done, so tests run in parallel without seeing
//! each other's rows.
//!
//! A fresh database is a copy of a template migrated once per schema (`CREATE DATABASE ..
//! TEMPLATE ..`, as crates.io's tests do): copying a few pages is much cheaper than running
//! every migration again for every test.

use sha2::{Digest, Sha256};
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

    /// Whether a test run must fail, rather than skip, where PostgreSQL is not reachable
    /// (`POTLUCK_REQUIRE_POSTGRES=1`, as CI sets it).
    pub fn required() -> bool {
        std::env::var("POTLUCK_REQUIRE_POSTGRES").is_ok_and(|v| !matches!(v.as_str(), "" | "0"))
    }

    /// Creates a uniquely named, migrated database on the server of `admin_url`, whose
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
        let template = template_name();
        // A template dropped by a run of another schema between our check and our copy (see
        // `ensure_template`) is made again.
        let mut attempts = 0;
        loop {
            ensure_template(&mut connection, admin_url, &template)
                .await
                .map_err(ScratchError::Failed)?;
            let copied = sqlx::query(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .execute(&mut connection)
            .await;
            match copied {
                Ok(_) => break,
                Err(_) if attempts < 3 => attempts += 1,
                Err(e) => return Err(ScratchError::Failed(e)),
            }
        }
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

/// The template of this schema: named after the migrations' versions and checksums, so that a
/// changed migration gets a template of its own.
fn template_name() -> String {
    let mut hash = Sha256::new();
    for migration in super::postgres::MIGRATOR.iter() {
        hash.update(migration.version.to_le_bytes());
        hash.update(&migration.checksum);
    }
    let digest = hash.finalize();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{TEMPLATE_PREFIX}{hex}")
}

const TEMPLATE_PREFIX: &str = "potluck_template_";
/// The advisory lock (on the admin database) that one process at a time holds while it makes
/// the template.
const TEMPLATE_LOCK: i64 = 0x506f_746c_7563_6b10;

/// Makes the migrated template unless it exists. It is built under another name and renamed
/// when done, so nobody ever copies a half-migrated one, and it refuses connections, since a
/// template that anyone is connected to cannot be copied. Templates of other schemas are
/// dropped on the way.
async fn ensure_template(
    admin: &mut PgConnection,
    admin_url: &str,
    template: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *admin)
        .await?;
    let made = make_template_if_missing(admin, admin_url, template).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *admin)
        .await?;
    made
}

async fn make_template_if_missing(
    admin: &mut PgConnection,
    admin_url: &str,
    template: &str,
) -> Result<(), sqlx::Error> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(template)
        .fetch_optional(&mut *admin)
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let building = format!("{template}_building");
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
    ))
    .execute(&mut *admin)
    .await?;
    sqlx::query(&format!("CREATE DATABASE \"{building}\""))
        .execute(&mut *admin)
        .await?;
    let store = super::PostgresStore::connect(&with_database(admin_url, &building), 2)
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("migrating the template: {e}")))?;
    store.close().await;
    // Its connections may take a moment to end after the pool closed.
    let mut renamed = sqlx::query(&format!(
        "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
    ))
    .execute(&mut *admin)
    .await;
    for _ in 0..50 {
        if renamed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        renamed = sqlx::query(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
        ))
        .execute(&mut *admin)
        .await;
    }
    renamed?;
    sqlx::query(&format!(
        "ALTER DATABASE \"{template}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
    ))
    .execute(&mut *admin)
    .await?;
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2 \
         AND datname NOT LIKE '%\\_building'",
    )
    .bind(format!("{TEMPLATE_PREFIX}%"))
    .bind(template)
    .fetch_all(&mut *admin)
    .await?;
    for old in stale {
        // Best effort: a run of that schema copying it right now keeps it.
        let _ = sqlx::query(&format!("ALTER DATABASE \"{old}\" WITH IS_TEMPLATE false"))
            .execute(&mut *admin)
            .await;
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{old}\""))
            .execute(&mut *admin)
            .await;
    }
    Ok(())
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
