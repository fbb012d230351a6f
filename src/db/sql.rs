//! A small builder for SQL whose shape depends on the request (optional
//! filters), keeping every value a bind parameter.
//!
//! Unlike `diesel::sql_query`, the statements it builds are prepared once per
//! connection and reused (diesel caches them by their SQL text): each
//! execution is then one round trip that Postgres need not parse or plan
//! again. diesel marks raw SQL as unsafe to cache, because it cannot see
//! whether the text embeds values; here the text never does (values are
//! always binds), and the number of distinct texts is bounded by the
//! combinations of filters (bench/README.md, "Design choices measured").

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query as DieselQuery, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use std::marker::PhantomData;

/// A statement built by [`SqlBuilder`]: SQL text around typed binds
/// (`parts[i]`, then bind `i`, …, then the last part).
pub struct Query {
    parts: Vec<String>,
    binds: Vec<Box<dyn QueryFragment<Pg> + Send>>,
    /// Whether the prepared statement is kept and reused (see [`SqlBuilder::plan_each_execution`]).
    cached: bool,
}

impl Query {
    fn push_sql(&mut self, sql: &str) {
        if let Some(last) = self.parts.last_mut() {
            last.push_str(sql);
        }
    }
}

impl QueryFragment<Pg> for Query {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // The text (with `$n` for each bind) alone identifies the statement
        // in diesel's cache: values never enter it.
        if !self.cached {
            out.unsafe_to_cache_prepared();
        }
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            if let Some(bind) = self.binds.get(i) {
                bind.walk_ast(out.reborrow())?;
            }
        }
        Ok(())
    }
}

impl QueryId for Query {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl DieselQuery for Query {
    type SqlType = Untyped;
}

/// One bind value of SQL type `ST`.
struct Bind<ST, V> {
    value: V,
    sql_type: PhantomData<fn() -> ST>,
}

impl<ST, V> QueryFragment<Pg> for Bind<ST, V>
where
    Pg: HasSqlType<ST>,
    V: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, V>(&self.value)
    }
}

/// `SET LOCAL setting`: a planner setting for the rest of the current
/// transaction only (callers say why they need it). `setting` is fixed
/// text such as `jit = off`, never a request's value.
pub async fn set_local(
    conn: &mut diesel_async::AsyncPgConnection,
    setting: &'static str,
) -> QueryResult<()> {
    use diesel_async::RunQueryDsl;
    SqlBuilder::fixed(&format!("SET LOCAL {setting}"))
        .build()
        .execute(conn)
        .await?;
    Ok(())
}

pub struct SqlBuilder {
    query: Query,
    /// Set by [`SqlBuilder::fixed`]: the text after each placeholder still to
    /// be bound, in order.
    pending: std::collections::VecDeque<String>,
    /// Set by [`SqlBuilder::capture`]: the statement's text, while `query`
    /// collects its bind values instead.
    #[cfg(feature = "bench")]
    captured: Option<String>,
}

/// A statement as Chronik sends it: its text with `$n` placeholders, and the
/// query that returns its bind values as Postgres prints them.
#[cfg(feature = "bench")]
pub struct Captured {
    pub sql: String,
    pub binds: Query,
    /// Whether Chronik reuses the prepared statement (else it plans each execution).
    pub cached: bool,
}

impl SqlBuilder {
    pub fn new(sql: &str) -> Self {
        Self {
            query: Query {
                parts: vec![sql.to_owned()],
                binds: Vec::new(),
                cached: true,
            },
            pending: Default::default(),
            #[cfg(feature = "bench")]
            captured: None,
        }
    }

    /// A statement whose whole text is given, with `$1`, `$2`, … each used
    /// once and in order; [`SqlBuilder::bind`] then supplies them in turn
    /// without adding text. For statements of a fixed shape that read better
    /// written out than assembled, and that should still be prepared once per
    /// connection (a `diesel::sql_query` costs a second round trip and a plan
    /// on every execution).
    pub fn fixed(sql: &str) -> Self {
        let mut parts = split_placeholders(sql).into_iter();
        let mut builder = Self::new(&parts.next().unwrap_or_default());
        builder.pending = parts.collect();
        builder
    }

    /// A builder that records the statement that code builds with it, for
    /// the benchmark (`chronik bench-sql`). Its query selects
    /// `ARRAY[$1::text, $2::text, …] AS binds` with the same typed binds, so
    /// Postgres itself renders each value the way a text-mode client (such
    /// as pgbench) would send it.
    #[cfg(feature = "bench")]
    pub fn capture() -> Self {
        Self {
            captured: Some(String::new()),
            ..Self::new("SELECT ARRAY[")
        }
    }

    pub fn sql(&mut self, sql: &str) -> &mut Self {
        #[cfg(feature = "bench")]
        if let Some(text) = &mut self.captured {
            text.push_str(sql);
            return self;
        }
        self.query.push_sql(sql);
        self
    }

    /// Appends `$n` (the next placeholder) and binds `value` to it.
    pub fn bind<ST, V>(&mut self, value: V) -> &mut Self
    where
        Pg: HasSqlType<ST>,
        V: ToSql<ST, Pg> + Send + 'static,
        ST: Send + 'static,
    {
        #[cfg(feature = "bench")]
        if let Some(text) = &mut self.captured {
            let n = self.query.binds.len() + 1;
            text.push_str(&format!("${n}"));
            if n > 1 {
                self.query.push_sql(", ");
            }
        }
        self.query.binds.push(Box::new(Bind::<ST, V> {
            value,
            sql_type: PhantomData,
        }));
        self.query
            .parts
            .push(self.pending.pop_front().unwrap_or_default());
        #[cfg(feature = "bench")]
        if self.captured.is_some() {
            self.query.push_sql("::text");
        }
        self
    }

    /// [`SqlBuilder::bind`], by value: `SqlBuilder::fixed(…).arg(a).arg(b).build()`.
    pub fn arg<ST, V>(mut self, value: V) -> Self
    where
        Pg: HasSqlType<ST>,
        V: ToSql<ST, Pg> + Send + 'static,
        ST: Send + 'static,
    {
        self.bind::<ST, V>(value);
        self
    }

    /// Plans the statement for each execution's values instead of reusing
    /// a prepared one: Postgres would switch a reused statement to a generic
    /// plan after five executions, and for filters whose best plan depends
    /// on how rare the values are, the generic plan can be far slower
    /// (bench scenario `filtered`). Costs a round trip.
    pub fn plan_each_execution(&mut self) -> &mut Self {
        self.query.cached = false;
        self
    }

    pub fn build(mut self) -> Query {
        // Placeholders left unbound stay in the text as `$?`, so Postgres
        // rejects the statement instead of running a truncated one.
        for rest in std::mem::take(&mut self.pending) {
            self.query.push_sql("$?");
            self.query.push_sql(&rest);
        }
        self.query
    }

    /// The recorded statement, if this builder was made by [`SqlBuilder::capture`].
    #[cfg(feature = "bench")]
    pub fn into_captured(mut self) -> Option<Captured> {
        let sql = self.captured.take()?;
        self.query.push_sql("]::text[] AS binds");
        let cached = self.query.cached;
        self.query.cached = true;
        Some(Captured {
            sql,
            binds: self.query,
            cached,
        })
    }
}

/// `sql` split at its placeholders `$1`, `$2`, …, which must each appear once
/// and in order (`fixed` binds them in turn). A `$` followed by anything else
/// (a dollar-quoted string, `$n` out of order) stays in the text.
fn split_placeholders(sql: &str) -> Vec<String> {
    fn push_last(parts: &mut [String], text: &str) {
        if let Some(last) = parts.last_mut() {
            last.push_str(text);
        }
    }
    let mut parts = vec![String::new()];
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let next = format!("${}", parts.len());
        let after = &rest[at..];
        let is_next = after.starts_with(&next)
            && !after[next.len()..].starts_with(|c: char| c.is_ascii_digit());
        if is_next {
            push_last(&mut parts, &rest[..at]);
            parts.push(String::new());
            rest = &after[next.len()..];
        } else {
            push_last(&mut parts, &rest[..=at]);
            rest = &after[1..];
        }
    }
    push_last(&mut parts, rest);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::debug_query;
    use diesel::sql_types::{Integer, Text};

    #[test]
    fn placeholders_split_the_text_in_order() {
        assert_eq!(
            split_placeholders("SELECT $1::int, $2 || 'a', $10"),
            vec!["SELECT ", "::int, ", " || 'a', $10"]
        );
        assert_eq!(split_placeholders("SELECT 1"), vec!["SELECT 1"]);
    }

    #[test]
    fn a_fixed_statement_sends_its_text_with_the_binds_in_place() {
        let mut q = SqlBuilder::fixed("SELECT $1::int + length($2) AS n");
        q.bind::<Integer, _>(1).bind::<Text, _>("ab".to_owned());
        let sql = debug_query::<Pg, _>(&q.build()).to_string();
        assert!(sql.starts_with("SELECT $1::int + length($2) AS n"), "{sql}");
    }

    #[test]
    fn an_unbound_placeholder_stays_visible_in_the_text() {
        let mut q = SqlBuilder::fixed("SELECT $1, $2");
        q.bind::<Integer, _>(1);
        let sql = debug_query::<Pg, _>(&q.build()).to_string();
        assert!(sql.starts_with("SELECT $1, $?"), "{sql}");
    }
}
