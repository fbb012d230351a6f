//! Database access. Each submodule owns all SQL for one resource.

pub mod actors;
pub mod batch;
pub mod changes;
pub mod children;
pub mod counts;
pub mod event_types;
pub mod events;
pub mod idempotency;
pub mod memberships;
pub mod rate_limits;
pub mod readiness;
pub mod redactions;
pub mod replicas;
pub mod revisions;
pub mod schema_check;
pub mod slots;
pub mod sql;
pub mod stats;
pub mod store;
pub mod stored;
pub mod timelines;
pub mod tokens;
pub mod vocabulary;

use anyhow::Context;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

/// Settings every connection of a pool starts its session with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    /// Postgres's `statement_timeout`: a query that runs longer is cancelled
    /// (also after its client went away, which Postgres does not notice).
    pub statement_timeout: Option<Duration>,
    /// Postgres's `idle_in_transaction_session_timeout`: a backend whose
    /// transaction waits longer for its next statement is ended.
    pub idle_in_transaction_timeout: Option<Duration>,
}

impl Session {
    /// The `SET` statements that give a new connection these settings, if any.
    fn setup_sql(&self) -> Option<String> {
        let settings = [
            ("statement_timeout", self.statement_timeout),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction_timeout,
            ),
        ];
        let statements: Vec<String> = settings
            .iter()
            .filter_map(|(name, limit)| limit.map(|limit| (name, limit)))
            .map(|(name, limit)| format!("SET {name} = {}", limit.as_millis()))
            .collect();
        (!statements.is_empty()).then(|| statements.join("; "))
    }
}

/// A pool whose connections keep Postgres's defaults (the CLI's, tests').
pub fn build_pool(database_url: &str, max_size: usize) -> anyhow::Result<DbPool> {
    build_pool_with(database_url, max_size, Session::default())
}

/// A pool whose connections start with `session`'s settings. They are set
/// once per connection, when it is opened, not on each checkout.
pub fn build_pool_with(
    database_url: &str,
    max_size: usize,
    session: Session,
) -> anyhow::Result<DbPool> {
    // No test query when a pooled connection is handed out (the default
    // sends `SELECT 1` first, a round trip on every checkout): the pool
    // still drops a connection whose socket closed or whose transaction
    // broke, which is what Postgres shutting a backend down looks like.
    build_pool_waiting(database_url, max_size, session, Duration::from_secs(5))
}

/// [`build_pool_with`], whose checkouts and connects give up after `wait`
/// (a request that waits longer for a connection gets a 503).
pub fn build_pool_waiting(
    database_url: &str,
    max_size: usize,
    session: Session,
    wait: Duration,
) -> anyhow::Result<DbPool> {
    let mut manager_config = ManagerConfig::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
    if let Some(sql) = session.setup_sql() {
        manager_config.custom_setup =
            Box::new(move |url| Box::pin(connect(url.to_owned(), sql.clone())));
    }
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        database_url,
        manager_config,
    );
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .build()
        .context("building the database pool")
}

/// Opens a connection and runs `setup` on it before it joins the pool.
async fn connect(url: String, setup: String) -> diesel::ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(&url).await?;
    conn.batch_execute(&setup)
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Creates the database named in `database_url` if it does not exist yet.
pub async fn ensure_database_exists(database_url: &str) -> anyhow::Result<()> {
    if AsyncPgConnection::establish(database_url).await.is_ok() {
        return Ok(());
    }
    let (server_url, name) = split_database_name(database_url)?;
    let mut conn = AsyncPgConnection::establish(&format!("{server_url}/postgres"))
        .await
        .with_context(|| format!("connecting to the Postgres server of {server_url}"))?;
    let create = format!("CREATE DATABASE {}", quote_ident(name));
    match diesel::sql_query(create).execute(&mut conn).await {
        Ok(_) => {
            tracing::info!(database = name, "created database");
            Ok(())
        }
        // Another process created it in the meantime.
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("already exists") =>
        {
            Ok(())
        }
        Err(err) => Err(err).context("creating the database"),
    }
}

/// Applies pending embedded migrations. Diesel's migration harness is
/// synchronous, so it runs on a thread of its own.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_owned();
    let applied = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || -> anyhow::Result<usize> {
            let mut conn =
                <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)?;
            // Serialize concurrent starters (several replicas, parallel tests).
            diesel::RunQueryDsl::execute(
                diesel::sql_query("SELECT pg_advisory_lock(7205118)"),
                &mut conn,
            )?;
            let result = conn.run_pending_migrations(MIGRATIONS).map(|v| v.len());
            diesel::RunQueryDsl::execute(
                diesel::sql_query("SELECT pg_advisory_unlock(7205118)"),
                &mut conn,
            )?;
            result.map_err(|e| anyhow::anyhow!(e))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the migration thread panicked"))?
    })
    .await??;
    if applied > 0 {
        tracing::info!(applied, "applied migrations");
    }
    Ok(())
}

/// Splits `postgres://u@h:5432/db?x=y` into (`postgres://u@h:5432`, `db`).
fn split_database_name(url: &str) -> anyhow::Result<(&str, &str)> {
    let without_query = url.split('?').next().unwrap_or(url);
    let after_scheme = without_query.find("://").map(|i| i + 3).unwrap_or(0);
    let slash = without_query[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .context("DATABASE_URL names no database")?;
    let name = &without_query[slash + 1..];
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    Ok((&without_query[..slash], name))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_sets_only_the_limits_it_has_in_milliseconds() {
        assert_eq!(Session::default().setup_sql(), None);
        let session = Session {
            statement_timeout: Some(Duration::from_secs(30)),
            idle_in_transaction_timeout: None,
        };
        assert_eq!(
            session.setup_sql().as_deref(),
            Some("SET statement_timeout = 30000")
        );
        let both = Session {
            statement_timeout: Some(Duration::from_millis(250)),
            idle_in_transaction_timeout: Some(Duration::from_secs(180)),
        };
        assert_eq!(
            both.setup_sql().as_deref(),
            Some("SET statement_timeout = 250; SET idle_in_transaction_session_timeout = 180000")
        );
    }

    #[test]
    fn splits_database_name_from_url() {
        assert_eq!(
            split_database_name("postgres://postgres@localhost:5432/chronik?sslmode=disable")
                .unwrap(),
            ("postgres://postgres@localhost:5432", "chronik")
        );
        assert!(split_database_name("postgres://localhost").is_err());
    }
}
