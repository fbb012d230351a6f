//! Whether a database's schema is the one this binary was built for, for
//! servers that do not migrate (`serve --no-migrate`): in a rolling deploy,
//! `chronik migrate` runs once and the servers only check.

use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::MIGRATIONS;
use super::sql::SqlBuilder;

/// Where a database's migrations differ from this binary's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Difference {
    /// This binary's migrations the database lacks.
    pub pending: Vec<String>,
    /// Migrations the database has and this binary does not know (a newer
    /// version's).
    pub unknown: Vec<String>,
}

impl Difference {
    /// Between the migrations a binary `known`s and those `applied` to a database.
    pub fn between(known: &[String], applied: &[String]) -> Self {
        let missing_from = |list: &[String], other: &[String]| -> Vec<String> {
            list.iter()
                .filter(|v| !other.contains(v))
                .cloned()
                .collect()
        };
        Self {
            pending: missing_from(known, applied),
            unknown: missing_from(applied, known),
        }
    }
}

/// Whether the database has diesel's record of applied migrations.
const HAS_RECORD_SQL: &str =
    "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present";
const APPLIED_SQL: &str = "SELECT version FROM __diesel_schema_migrations ORDER BY version";

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Checks, without changing anything, that the database at `database_url`
/// has exactly this binary's migrations; the error says what to do if not.
pub async fn ensure_current(database_url: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "connecting to DATABASE_URL: {e} (with --no-migrate the database must exist: \
                 run `chronik migrate` first)"
            )
        })?;
    let known = known_versions()?;
    let applied = applied_versions(&mut conn).await?;
    let difference = Difference::between(&known, &applied);
    if !difference.unknown.is_empty() {
        anyhow::bail!(
            "the database has migrations this chronik does not know ({}): a newer version \
             migrated it; serve it with that version",
            difference.unknown.join(", ")
        );
    }
    if !difference.pending.is_empty() {
        anyhow::bail!(
            "the database lacks {} of this chronik's migrations ({}); run `chronik migrate` \
             first, or start without --no-migrate",
            difference.pending.len(),
            difference.pending.join(", ")
        );
    }
    Ok(())
}

/// The versions of this binary's migrations, as diesel records them.
fn known_versions() -> anyhow::Result<Vec<String>> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("reading the embedded migrations: {e}"))?;
    Ok(migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}

/// The versions the database records as applied: none without a record.
async fn applied_versions(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<String>> {
    // Asked apart: a statement naming a missing table fails as a whole.
    let record: Vec<Present> = SqlBuilder::fixed(HAS_RECORD_SQL).build().load(conn).await?;
    if !record.iter().any(|r| r.present) {
        return Ok(Vec::new());
    }
    let rows: Vec<Version> = SqlBuilder::fixed(APPLIED_SQL).build().load(conn).await?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pending_and_unknown_migrations_are_told_apart() {
        let known = strings(&["1", "2", "3"]);
        assert_eq!(
            Difference::between(&known, &known),
            Difference::default(),
            "the same migrations"
        );
        assert_eq!(
            Difference::between(&known, &strings(&["1"])),
            Difference {
                pending: strings(&["2", "3"]),
                unknown: vec![]
            }
        );
        assert_eq!(
            Difference::between(&known, &strings(&["1", "2", "3", "4"])),
            Difference {
                pending: vec![],
                unknown: strings(&["4"])
            }
        );
    }

    #[test]
    fn this_binary_knows_every_migration_of_the_repository() {
        let known = known_versions().unwrap();
        let dirs = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .count();
        assert_eq!(known.len(), dirs);
        assert!(known.iter().all(|v| v.chars().all(|c| c.is_ascii_digit())));
    }
}
