use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "ready");
}

#[tokio::test]
async fn the_served_spec_is_the_committed_one() {
    let app = spawn_app().await;
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, 200);
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json"))
            .expect("committed spec is JSON");
    assert_eq!(reply.body, committed);
    assert!(reply.body["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/docs/"));
    let page = app.get("/docs/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("swagger-ui"),
        "{}",
        &page.text[..page.text.len().min(200)]
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problem_json() {
    let app = spawn_app().await;
    let missing = app.get("/v1/nothing-here").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type(), "application/problem+json");
    let wrong_method = app.send(app.client.put(app.url("/v1/events"))).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.content_type(), "application/problem+json");
}

#[tokio::test]
async fn requests_after_postgres_closed_the_servers_connections_succeed() {
    let app = spawn_app().await;
    // Reads and writes open connections in both workers' pools.
    for i in 0..8 {
        app.assert_requests_served(&format!("Before {i}")).await;
    }
    let others = "SELECT count(*) AS n FROM pg_stat_activity \
                  WHERE datname = current_database() AND pid <> pg_backend_pid()";
    assert!(app.count(others).await > 0);
    // What a Postgres restart or an idle-connection timeout does to them.
    app.count(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.count(others).await > 0 {
        assert!(std::time::Instant::now() < deadline, "backends still there");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The closed sockets reach the connections' tasks at once; a moment for them to see it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for i in 0..8 {
        app.assert_requests_served(&format!("After {i}")).await;
    }
}

/// The app's database, managed from the server's `postgres` database
/// (Postgres refuses to lock a database against the connection asking).
struct Database {
    name: String,
    admin: AsyncPgConnection,
}

impl Database {
    async fn of(app: &TestApp) -> Self {
        let (server, name) = app
            .config
            .database_url
            .rsplit_once('/')
            .expect("a database URL");
        let admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
            .await
            .expect("connecting");
        Self {
            name: name.to_owned(),
            admin,
        }
    }

    /// Closes every connection to it and refuses new ones: what a database
    /// going down looks like to the server.
    async fn take_down(&mut self) {
        let name = &self.name;
        self.admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .await
            .expect("taking the database down");
        // Terminating is asynchronous: wait until the backends are gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.connections().await > 0 {
            assert!(Instant::now() < deadline, "backends still there");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn connections(&mut self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count: Count = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1")
                .bind::<diesel::sql_types::Text, _>(&self.name),
            &mut self.admin,
        )
        .await
        .expect("counting backends");
        count.n
    }

    async fn bring_up(&mut self) {
        let sql = format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true", self.name);
        self.admin
            .batch_execute(&sql)
            .await
            .expect("bringing the database up");
    }
}

/// The statuses of `n` concurrent `/readyz` (so that every worker answers some).
async fn readiness(app: &TestApp, n: usize) -> Vec<u16> {
    let probes = (0..n).map(|_| app.send(app.anonymous.get(app.url("/readyz"))));
    futures_util::future::join_all(probes)
        .await
        .into_iter()
        .map(|reply| reply.status)
        .collect()
}

#[tokio::test]
async fn readiness_asks_the_database_at_most_once_a_second_for_every_worker() {
    let app = spawn_app().await;
    let mut database = Database::of(&app).await;
    // Timing-free: a round counts only if the cached answer was read well
    // within its second; a slow machine just takes another round.
    let mut conclusive = false;
    for _ in 0..5 {
        // Whatever an earlier round left in the cache has expired.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let asked = Instant::now();
        if readiness(&app, 1).await != [200] {
            // A connection an earlier round closed, found dead: the next round asks afresh.
            continue;
        }
        database.take_down().await;
        // Every probe within the second gets the answer the database gave:
        // none asks it again (which would find it down).
        let cached = readiness(&app, 8).await;
        let in_time = asked.elapsed() < Duration::from_millis(900);
        if in_time {
            assert_eq!(
                cached, [200; 8],
                "readiness was asked again within its second"
            );
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            readiness(&app, 1).await,
            [503],
            "a second later, it is asked again"
        );
        database.bring_up().await;
        if in_time {
            conclusive = true;
            break;
        }
    }
    assert!(conclusive, "no round read the cache within its second");
    // Ready again once the database is back (a dead pooled connection may cost a round).
    let deadline = Instant::now() + Duration::from_secs(10);
    while readiness(&app, 1).await != [200] {
        assert!(Instant::now() < deadline, "readiness never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
