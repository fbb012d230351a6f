//! Token management outside HTTP: the `chronik token` commands and the
//! initial admin token a fresh install creates, so that it is never open for writing.

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use diesel_async::AsyncPgConnection;
use std::io::Write;
use std::path::Path;

use crate::db::{self, DbPool, tokens::TokenSpec};
use crate::models::token::{CreatedToken, Scope, Token, TokenId, expires_after, parse_lifetime};

#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (only this once) on standard output.
    Create {
        /// What the token is for.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        scope: Scope,
        /// Lifetime (`30d`, `12h`, `90m`, seconds) or an RFC 3339 expiry; default: never.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token at once.
    Revoke { id: TokenId },
}

/// Runs a `chronik token` command and returns what to print on standard output.
pub async fn run(conn: &mut AsyncPgConnection, command: TokenCommand) -> anyhow::Result<String> {
    match command {
        TokenCommand::Create {
            name,
            scope,
            expires,
        } => {
            let mut spec = TokenSpec::new(name, scope);
            spec.expires_at = expires.as_deref().map(parse_expiry).transpose()?;
            let created = db::tokens::create(conn, spec).await?;
            eprintln!(
                "Created token {} ({}, scope {}{}). Its secret follows; it is shown only now:",
                created.token.id,
                created.token.name,
                created.token.scope,
                created
                    .token
                    .expires_at
                    .map(|at| format!(", expires {}", at.to_rfc3339()))
                    .unwrap_or_default(),
            );
            Ok(format!("{}\n", created.secret))
        }
        TokenCommand::List => Ok(render_list(&db::tokens::list(conn).await?)),
        TokenCommand::Revoke { id } => {
            let token = db::tokens::revoke(conn, id).await?;
            Ok(format!("revoked {} ({})\n", token.id, token.name))
        }
    }
}

/// `30d` and friends, or an RFC 3339 date-time.
fn parse_expiry(raw: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    parse_lifetime(raw)
        .and_then(expires_after)
        .map_err(|e| anyhow::anyhow!("--expires: {e} (or an RFC 3339 date-time)"))
}

/// A table for people; ids are full so they can be pasted into `revoke`.
pub fn render_list(tokens: &[Token]) -> String {
    let when = |at: Option<DateTime<Utc>>| {
        at.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let mut rows = vec![[
        "ID".to_owned(),
        "NAME".into(),
        "SCOPE".into(),
        "STATUS".into(),
        "PREFIX".into(),
        "CREATED".into(),
        "EXPIRES".into(),
        "LAST USED".into(),
    ]];
    for t in tokens {
        rows.push([
            t.id.to_string(),
            t.name.clone(),
            t.scope.to_string(),
            t.status.as_str().to_owned(),
            t.prefix.clone(),
            when(Some(t.created_at)),
            when(t.expires_at),
            when(t.last_used_at),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Creates an admin token when the database has no live one, writes its
/// secret to `file` (mode 0600) and says where. Returns the new token's id.
pub async fn ensure_initial_admin(pool: &DbPool, file: &Path) -> anyhow::Result<Option<TokenId>> {
    let mut conn = pool.get().await.context("connecting to the database")?;
    let path = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let created = db::tokens::create_admin_if_none(&mut conn, "initial admin", |created| {
        write_secret(&path, created)
    })
    .await?;
    let Some(created) = created else {
        return Ok(None);
    };
    // A plain line on stderr rather than a log event: it must be seen whatever the log filter.
    eprintln!(
        "chronik: no admin token existed, so one was created ({}). Its secret is in {} — \
         read it, keep it somewhere safe, and delete the file. See README, \"Tokens and access\".",
        created.token.id,
        path.display()
    );
    Ok(Some(created.token.id))
}

/// Writes the secret to a file that did not exist before, readable by its
/// owner only. An existing file is never replaced: it may be a symlink an
/// attacker planted to make the server truncate or leak another file, or an
/// earlier start's token file someone still needs. `create_new` refuses
/// every existing path, a symlink too (even a dangling one); `O_NOFOLLOW`
/// says the same to the kernel once more.
fn write_secret(path: &Path, created: &CreatedToken) -> anyhow::Result<()> {
    let mut file = new_private_file(path).map_err(|err| {
        let reason = if err.kind() == std::io::ErrorKind::AlreadyExists {
            "it exists already and is never overwritten (nor followed, if it is a symlink); \
             move it away or delete it"
                .to_owned()
        } else {
            err.to_string()
        };
        anyhow::anyhow!(
            "cannot write the initial admin token to {}: {reason} \
             (or set CHRONIK_INITIAL_TOKEN_FILE to a path that does not exist yet); \
             no token was created",
            path.display()
        )
    })?;
    let written = writeln!(file, "{}", created.secret).and_then(|()| file.sync_all());
    if let Err(err) = written {
        // The token is not created (the transaction rolls back), so the file
        // this call made holds nothing anyone needs; leave no stub behind.
        let _ = std::fs::remove_file(path);
        return Err(anyhow::anyhow!(
            "writing the initial admin token to {}: {err}; no token was created",
            path.display()
        ));
    }
    Ok(())
}

fn new_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}
