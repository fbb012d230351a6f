//! A small builder for SQL whose shape depends on the request (optional
//! filters), keeping every value a bind parameter.

use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::HasSqlType;

pub type Query = BoxedSqlQuery<'static, Pg, SqlQuery>;

pub struct SqlBuilder {
    query: Query,
    binds: usize,
    /// Set by [`SqlBuilder::capture`]: the statement's text, while `query`
    /// collects its bind values instead.
    captured: Option<String>,
}

/// A statement as Chronik sends it: its text with `$n` placeholders, and the
/// query that returns its bind values as Postgres prints them.
pub struct Captured {
    pub sql: String,
    pub binds: Query,
}

impl SqlBuilder {
    pub fn new(sql: &str) -> Self {
        Self {
            query: diesel::sql_query(sql).into_boxed(),
            binds: 0,
            captured: None,
        }
    }

    /// A builder that records the statement that code builds with it, for
    /// the benchmark (`chronik bench-sql`). Its query selects
    /// `ARRAY[$1::text, $2::text, …] AS binds` with the same typed binds, so
    /// Postgres itself renders each value the way a text-mode client (such
    /// as pgbench) would send it.
    pub fn capture() -> Self {
        Self {
            query: diesel::sql_query("SELECT ARRAY[").into_boxed(),
            binds: 0,
            captured: Some(String::new()),
        }
    }

    pub fn sql(&mut self, sql: &str) -> &mut Self {
        if let Some(text) = &mut self.captured {
            text.push_str(sql);
            return self;
        }
        self.push_raw(sql);
        self
    }

    /// Appends `$n` (the next placeholder) and binds `value` to it.
    pub fn bind<ST, V>(&mut self, value: V) -> &mut Self
    where
        Pg: HasSqlType<ST>,
        V: ToSql<ST, Pg> + Send + 'static,
        ST: Send + 'static,
    {
        self.binds += 1;
        let placeholder = format!("${}", self.binds);
        let raw = match &mut self.captured {
            Some(text) => {
                text.push_str(&placeholder);
                let separator = if self.binds > 1 { ", " } else { "" };
                format!("{separator}{placeholder}::text")
            }
            None => placeholder,
        };
        let query = std::mem::replace(&mut self.query, diesel::sql_query("").into_boxed());
        self.query = query.sql(raw).bind::<ST, V>(value);
        self
    }

    fn push_raw(&mut self, sql: &str) {
        self.query =
            std::mem::replace(&mut self.query, diesel::sql_query("").into_boxed()).sql(sql);
    }

    pub fn build(self) -> Query {
        self.query
    }

    /// The recorded statement, if this builder was made by [`SqlBuilder::capture`].
    pub fn into_captured(mut self) -> Option<Captured> {
        let sql = self.captured.take()?;
        self.push_raw("]::text[] AS binds");
        Some(Captured {
            sql,
            binds: self.query,
        })
    }
}
