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
}

impl SqlBuilder {
    pub fn new(sql: &str) -> Self {
        Self {
            query: diesel::sql_query(sql).into_boxed(),
            binds: 0,
        }
    }

    pub fn sql(&mut self, sql: &str) -> &mut Self {
        self.query =
            std::mem::replace(&mut self.query, diesel::sql_query("").into_boxed()).sql(sql);
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
        let query = std::mem::replace(&mut self.query, diesel::sql_query("").into_boxed());
        self.query = query.sql(placeholder).bind::<ST, V>(value);
        self
    }

    pub fn build(self) -> Query {
        self.query
    }
}
