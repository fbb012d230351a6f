//! All SQL for statistics. They aggregate over the events a filter matches,
//! read through `events::push_matching` (the one place that says which rows
//! those are), in the request's time zone.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamp, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::events::push_matching;
use super::sql::SqlBuilder;
use super::stored::parse_stored;
use crate::error::ApiError;
use crate::filter::EventFilter;
use crate::models::stats::{Bucket, BucketCount, CasualtyRow, Dimension};

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Timestamp)]
    bucket: NaiveDateTime,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Appends the local time, in `tz`, of when a matching event counts: its
/// start, moved into the window: `from` for an event that began earlier and
/// overlaps it, `to` for a vague one stored after `to` whose period begins
/// by then.
fn push_local_start(q: &mut SqlBuilder, filter: &EventFilter, tz: chrono_tz::Tz) {
    q.sql("(LEAST(GREATEST(m.occurred_start, ")
        .bind::<Nullable<Timestamptz>, _>(filter.from)
        .sql("), ")
        .bind::<Nullable<Timestamptz>, _>(filter.to)
        .sql(") AT TIME ZONE ")
        .bind::<Text, _>(tz.name())
        .sql(")");
}

/// Matching events per bucket (the local date the bucket starts on) and type.
pub async fn bucket_counts(
    conn: &mut AsyncPgConnection,
    filter: &EventFilter,
    bucket: Bucket,
    tz: chrono_tz::Tz,
) -> Result<Vec<BucketCount>, ApiError> {
    // Hand-built: aggregates over the dynamic event filter (`push_matching`).
    let mut q = SqlBuilder::new("WITH m AS (");
    push_matching(&mut q, filter);
    q.sql(") SELECT date_trunc(")
        .bind::<Text, _>(bucket.as_str())
        .sql(", ");
    push_local_start(&mut q, filter, tz);
    q.sql(") AS bucket, m.event_type, count(*) AS count FROM m GROUP BY 1, 2 ORDER BY 1, 2");
    let rows: Vec<CountRow> = q.build().load(conn).await.map_err(tz_error)?;
    Ok(rows
        .into_iter()
        .map(|r| BucketCount {
            bucket: r.bucket.date(),
            event_type: r.event_type,
            count: r.count,
        })
        .collect())
}

#[derive(QueryableByName)]
struct SumRow {
    #[diesel(sql_type = Nullable<Date>)]
    day: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    event_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    party: Option<String>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    min_sum: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    max_sum: Option<i64>,
    #[diesel(sql_type = BigInt)]
    figures: i64,
    #[diesel(sql_type = BigInt)]
    unbounded: i64,
    #[diesel(sql_type = BigInt)]
    events: i64,
}

/// Sums of the matching events' casualty figures per `group_by`, kind and status.
pub async fn casualty_sums(
    conn: &mut AsyncPgConnection,
    filter: &EventFilter,
    group_by: &[Dimension],
    tz: chrono_tz::Tz,
) -> Result<Vec<CasualtyRow>, ApiError> {
    let by = |d: Dimension| group_by.contains(&d);
    // Hand-built: aggregates over the dynamic event filter (`push_matching`).
    let mut q = SqlBuilder::new("WITH m AS (");
    push_matching(&mut q, filter);
    q.sql(") SELECT ");
    if by(Dimension::Day) {
        push_local_start(&mut q, filter, tz);
        q.sql("::date AS day");
    } else {
        q.sql("NULL::date AS day");
    }
    q.sql(if by(Dimension::Type) {
        ", m.event_type"
    } else {
        ", NULL::text AS event_type"
    });
    q.sql(if by(Dimension::Party) {
        ", c.party"
    } else {
        ", NULL::text AS party"
    });
    // Sums saturate rather than overflow; no real count comes near.
    q.sql(
        ", c.kind, c.status, \
         LEAST(sum(c.min), 9223372036854775807)::bigint AS min_sum, \
         CASE WHEN bool_or(c.max IS NULL) THEN NULL \
              ELSE LEAST(sum(c.max), 9223372036854775807)::bigint END AS max_sum, \
         count(*) AS figures, count(*) FILTER (WHERE c.max IS NULL) AS unbounded, \
         count(DISTINCT m.id) AS events \
         FROM m CROSS JOIN LATERAL jsonb_to_recordset(m.casualties) \
             AS c(kind text, party text, min numeric, max numeric, status text) \
         GROUP BY 1, 2, 3, 4, 5 \
         ORDER BY 1, 2, 3, array_position(ARRAY['killed', 'injured', 'arrested', 'missing'], c.kind), \
             array_position(ARRAY['confirmed', 'claimed', 'disputed'], c.status)",
    );
    let rows: Vec<SumRow> = q.build().load(conn).await.map_err(tz_error)?;
    rows.into_iter()
        .map(|r| {
            Ok(CasualtyRow {
                day: r.day,
                event_type: r.event_type,
                party: r.party,
                kind: parse_stored(r.kind)?,
                status: parse_stored(r.status)?,
                min_sum: r.min_sum,
                max_sum: r.max_sum,
                figures: r.figures,
                unbounded: r.unbounded,
                events: r.events,
            })
        })
        .collect()
}

/// A zone chrono-tz knows but this server's Postgres does not is the
/// client's `tz`, not a server fault.
fn tz_error(err: diesel::result::Error) -> ApiError {
    match &err {
        diesel::result::Error::DatabaseError(_, info)
            if info.message().starts_with("time zone") =>
        {
            ApiError::field(
                "tz",
                format!("the database does not know this zone: {}", info.message()),
            )
        }
        _ => err.into(),
    }
}
