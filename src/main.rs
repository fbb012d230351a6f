use anyhow::Context;
use chronik::config::Config;
use chronik::tokens::{self, TokenCommand};
use chronik::{app, import, openapi, telemetry};
use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "chronik",
    version,
    about = "An event store for dated news events"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve {
        /// Load the demo timeline if the database holds no events yet.
        #[arg(long, env = "CHRONIK_DEMO")]
        demo: bool,
        /// Apply no migrations: refuse to start unless the database has
        /// exactly this version's (run `chronik migrate` first), as servers
        /// of a rolling deploy do.
        #[arg(long, env = "CHRONIK_NO_MIGRATE")]
        no_migrate: bool,
    },
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Load events from a file, all or nothing, exactly as `POST /v1/import` does.
    Import {
        file: PathBuf,
        /// The file's format; default: by extension (`.ndjson`/`.jsonl`, `.csv`, else JSON).
        #[arg(long, value_enum)]
        format: Option<import::InputFormat>,
        /// `create` fails on a taken external_id; `upsert` replaces that event.
        #[arg(long, value_enum, default_value_t = import::Mode::Create)]
        mode: import::Mode,
    },
    /// Load the demo timeline (idempotent).
    Demo,
    /// Create, list and revoke API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the OpenAPI spec (as committed in openapi/openapi.json).
    Openapi,
    /// Print, as JSON, the SQL and bind values a read request sends (for
    /// bench/run, which builds with `--features bench`).
    #[cfg(feature = "bench")]
    #[command(hide = true)]
    BenchSql {
        /// Path and query string, e.g. `/v1/events?from=2020-01-01&to=2020-01-30&limit=100`.
        target: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    telemetry::init(&config);
    let default = Command::Serve {
        demo: false,
        no_migrate: false,
    };
    match cli.command.unwrap_or(default) {
        Command::Serve { demo, no_migrate } => serve(&config, demo, no_migrate).await,
        Command::Migrate => {
            let pool = app::prepare_database(&config).await?;
            tokens::ensure_initial_admin(&pool, &config.initial_token_file).await?;
            Ok(())
        }
        Command::Import { file, format, mode } => {
            let format = format.unwrap_or_else(|| import::InputFormat::of_path(&file));
            let reader = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            import_file(&config, format, reader, mode).await
        }
        Command::Demo => {
            import_file(
                &config,
                import::InputFormat::Json,
                demo_file(),
                import::Mode::Upsert,
            )
            .await
        }
        Command::Token { command } => {
            let pool = app::prepare_database(&config).await?;
            let mut conn = pool.get().await?;
            emit(&tokens::run(&mut conn, command).await?)
        }
        #[cfg(feature = "bench")]
        Command::BenchSql { target } => {
            use diesel_async::{AsyncConnection, AsyncPgConnection};
            let mut conn = AsyncPgConnection::establish(&config.database_url).await?;
            let statement = chronik::bench_sql::capture(&mut conn, &target).await?;
            emit(&format!("{}\n", serde_json::to_string(&statement)?))
        }
        Command::Openapi => emit(&openapi::json()),
    }
}

async fn serve(config: &Config, demo: bool, no_migrate: bool) -> anyhow::Result<()> {
    let pool = match no_migrate {
        true => app::open_migrated_database(config).await?,
        false => app::prepare_database(config).await?,
    };
    tokens::ensure_initial_admin(&pool, &config.initial_token_file).await?;
    if demo {
        let mut conn = pool.get().await?;
        if chronik::db::events::count_all(&mut conn)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            == 0
        {
            let summary = import::import(
                &mut conn,
                import::InputFormat::Json,
                demo_file(),
                import::Mode::Upsert,
                Default::default(),
                config.import_limits(),
            )
            .await
            .map_err(report)?;
            tracing::info!(events = summary.created, "loaded the demo timeline");
        }
    }
    let listener =
        TcpListener::bind(&config.addr).with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(addr = %config.addr, "listening");
    // The server opens its own connections, on the threads that use them.
    drop(pool);
    let server = app::run(listener, config)?;
    if let Some(addr) = &config.metrics_addr {
        tracing::info!(addr = %addr, "serving /metrics without a token");
    }
    server.await?;
    Ok(())
}

fn demo_file() -> std::io::Cursor<&'static [u8]> {
    std::io::Cursor::new(import::DEMO.as_bytes())
}

async fn import_file(
    config: &Config,
    format: import::InputFormat,
    reader: impl std::io::Read + Send + 'static,
    mode: import::Mode,
) -> anyhow::Result<()> {
    let pool = app::prepare_database(config).await?;
    let mut conn = pool.get().await?;
    let limits = config.import_limits();
    let summary = import::import(&mut conn, format, reader, mode, Default::default(), limits)
        .await
        .map_err(report)?;
    // Running servers' live streams: the import committed outside them.
    chronik::live::notify::notify(&mut conn).await?;
    emit(&format!(
        "imported {} records: {} created, {} updated, {} unchanged; {} timelines created\n",
        summary.total,
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.timelines_created
    ))
}

/// Writes `text` to stdout. A reader that went away (`chronik openapi | head`)
/// is no error: Rust ignores SIGPIPE, so `print!` would panic on the closed
/// pipe, where a command-line tool should end quietly, its output unwanted.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => Ok(written?),
    }
}

/// An import's error with every listed record, one per line.
fn report(err: chronik::error::ApiError) -> anyhow::Error {
    let mut text = err.to_string();
    if let chronik::error::ApiError::ImportInvalid { errors, .. } = &err {
        for e in errors {
            text.push_str(&format!(
                "\n  line {}: {}: {}",
                e.line.unwrap_or(0),
                e.field,
                e.message
            ));
        }
    }
    anyhow::anyhow!(text)
}
