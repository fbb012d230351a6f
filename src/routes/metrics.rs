use actix_web::{HttpResponse, web};

use crate::telemetry::scrape::{CONTENT_TYPE, Scrape};

/// Metrics in the Prometheus text format (admin only).
///
/// Requests by route template, method and status; latency histograms by
/// route; the database pools' size, connections in use and waiting tasks;
/// database errors by kind; `503`s by cause; exports and imports running
/// and the events they moved; open live streams. docs/operations.md lists
/// every series. With `CHRONIK_METRICS_ADDR` set, the same is also served
/// without a token on that (private) address, for a scraper.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "The metrics, sampled now", content_type = "text/plain; version=0.0.4; charset=utf-8",
            body = String,
            example = json!("# HELP chronik_http_requests_total Responses, by route template (the matched pattern, `unmatched` for none), method and status\n# TYPE chronik_http_requests_total counter\nchronik_http_requests_total{route=\"/v1/events/{id}\",method=\"GET\",status=\"200\"} 42\n\n# HELP chronik_db_pool_in_use Connections of a pool handed out now\n# TYPE chronik_db_pool_in_use gauge\nchronik_db_pool_in_use{pool=\"requests\"} 1\n")),
        (status = 503, description = "The database is unreachable, or every connection stayed busy, so the token could not be checked; retry after `Retry-After` seconds"),
    ))]
pub async fn metrics(scrape: web::Data<Scrape>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(scrape.render())
}
