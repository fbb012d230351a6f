//! How many events a filter matches (`count=` on lists): counted, or the
//! planner's estimate.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Json};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::events::{push_filter, push_source};
use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::filter::{CountMode, EventFilter};
use crate::models::event::Total;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Json)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: serde_json::Value,
}

/// The events `filter` matches, in all.
pub async fn count(
    conn: &mut AsyncPgConnection,
    filter: &EventFilter,
    mode: CountMode,
) -> Result<Total, ApiError> {
    let head = match mode {
        CountMode::Exact => "SELECT count(*) AS count",
        CountMode::Estimated => "EXPLAIN (FORMAT JSON) SELECT 1",
    };
    // Hand-built: a count (or EXPLAIN) over the dynamic event filter.
    let mut q = SqlBuilder::new(head);
    push_source(&mut q, filter);
    push_filter(&mut q, filter);
    let query = q.build();
    let value = match mode {
        CountMode::Exact => {
            let rows: Vec<Count> = query.load(conn).await?;
            rows.into_iter().next().map_or(0, |row| row.count)
        }
        CountMode::Estimated => {
            let rows: Vec<Plan> = query.load(conn).await?;
            rows.into_iter()
                .next()
                .map_or(0, |row| planned_rows(&row.plan))
        }
    };
    Ok(Total {
        value,
        estimated: mode == CountMode::Estimated,
    })
}

/// `Plan Rows` of the top node of an `EXPLAIN (FORMAT JSON)` result.
fn planned_rows(plan: &serde_json::Value) -> i64 {
    plan.pointer("/0/Plan/Plan Rows")
        .and_then(serde_json::Value::as_f64)
        .map_or(0, |rows| rows.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_the_top_nodes_planned_rows() {
        let plan = serde_json::json!([{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 1234.0}}]);
        assert_eq!(planned_rows(&plan), 1234);
        assert_eq!(planned_rows(&serde_json::json!([])), 0);
    }
}
