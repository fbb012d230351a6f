//! Every migration's `down.sql` undoes its `up.sql` on a populated
//! database: newest first, each is reverted, applied again over the data
//! and reverted again; then all apply to the emptied database and make the
//! same schema as before, which a server serves from.

use chronik::db::tokens::TokenSpec;
use chronik::db::{self, MIGRATIONS};
use chronik::models::token::Scope;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use diesel_migrations::MigrationHarness;
use serde_json::json;
use std::net::TcpListener;

use crate::helpers::{TestApp, client, event, load_demo, rich_event, spawn_app, with};

/// The tables the population below must leave rows in: every table that
/// holds what users wrote, so that each `down.sql` meets real data.
const POPULATED: [&str; 12] = [
    "event_types",
    "actors",
    "sources",
    "timelines",
    "events",
    "event_actors",
    "event_sources",
    "event_timelines",
    "event_revisions",
    "event_redactions",
    "api_tokens",
    "idempotency_keys",
];

/// The tables that hold no user data: the store's version counters, whose
/// rows the migrations make themselves, shared rate-limit buckets (kept only
/// while they refill), and diesel's bookkeeping.
const BOOKKEEPING: [&str; 5] = [
    "store_epoch",
    "store_version",
    "store_version_pending",
    "rate_limit_buckets",
    "__diesel_schema_migrations",
];

#[tokio::test]
async fn every_migration_reverts_and_applies_again_on_a_populated_database() {
    // Its own database, migrated (and dropped when `app` is).
    let app = spawn_app().await;
    let url = app.config.database_url.clone();
    populate(&app).await;
    let tables = app
        .strings(
            "SELECT relname AS value FROM pg_class \
             WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')",
        )
        .await;
    for table in tables.iter().flatten() {
        assert!(
            POPULATED.contains(&table.as_str()) || BOOKKEEPING.contains(&table.as_str()),
            "a new table `{table}`: fill it in `populate` and list it in `POPULATED`"
        );
    }
    for table in POPULATED {
        let rows = app
            .count(&format!("SELECT count(*) AS n FROM {table}"))
            .await;
        assert!(rows > 0, "{table} has no rows to revert over");
    }
    let migrated = schema(&app).await;
    let versions = applied(&url).await;
    assert_eq!(versions, embedded());

    let reverted = revert_every_migration(&url).await;
    assert_eq!(reverted, versions, "reverted newest first");
    assert_eq!(
        schema(&app).await,
        Vec::<String>::new(),
        "the down.sql files left objects behind"
    );

    db::run_migrations(&url).await.expect("migrating again");
    assert_eq!(
        schema(&app).await,
        migrated,
        "the schema differs after a round trip"
    );

    // A server started on the database again serves and stores.
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let demo = load_demo(&mut conn).await;
    assert_eq!(demo.created, 8);
    let server = Server::start(&app).await;
    let list = server.get("/v1/events").await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(8), "{list}");
    let created = server
        .client
        .post(server.url("/v1/events"))
        .json(&event("after the round trip", "2022-01-10T00:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    server.stop().await;
}

/// The versions of the migrations the binary embeds, newest first.
fn embedded() -> Vec<String> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).unwrap();
    let mut versions: Vec<String> = migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort_by(|a, b| b.cmp(a));
    versions
}

/// The demo, and through the API a write of each kind: a timeline, an
/// event created with an `Idempotency-Key`, patched, put on the timeline,
/// deleted and redacted, another one restored, an event type and a token.
async fn populate(app: &TestApp) {
    let mut conn = app.pool.get().await.unwrap();
    assert_eq!(load_demo(&mut conn).await.created, 8);
    drop(conn);
    app.create_timeline("kz").await;
    let mut ids = Vec::new();
    for key in ["first", "second"] {
        let created = app
            .send(
                app.client
                    .post(app.url("/v1/events?known_at=2022-01-06T06:00:00Z"))
                    .header("Idempotency-Key", key)
                    .json(&with(rich_event(), json!({"external_id": key}))),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/events/{id}");
        let patched = app
            .patch(
                &format!("{path}?known_at=2022-01-06T09:30:00Z"),
                &json!({"status": "confirmed"}),
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.text);
        let added = app
            .put(&format!("/v1/timelines/kz/events/{id}"), &json!({}))
            .await;
        assert_eq!(added.status, 204, "{}", added.text);
        assert_eq!(app.delete(&path).await.status, 204);
        ids.push(id);
    }
    let redacted = app
        .post(
            &format!("/v1/events/{}/redaction", ids[0]),
            &json!({"reason": "A takedown, before the migrations are reverted"}),
        )
        .await;
    assert_eq!(redacted.status, 201, "{}", redacted.text);
    let restored = app
        .post(&format!("/v1/events/{}/restore", ids[1]), &json!({}))
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    let event_type = app
        .post(
            "/v1/event-types",
            &json!({"slug": "round_trip", "label": "Round trip"}),
        )
        .await;
    assert_eq!(event_type.status, 201, "{}", event_type.text);
    let token = app
        .post(
            "/v1/tokens",
            &json!({"name": "an editor", "scope": "write"}),
        )
        .await;
    assert_eq!(token.status, 201, "{}", token.text);
}

/// The applied migrations, newest first.
async fn applied(url: &str) -> Vec<String> {
    harness(url, |conn| {
        let versions = conn.applied_migrations().map_err(|e| e.to_string())?;
        let mut versions: Vec<String> = versions.iter().map(ToString::to_string).collect();
        versions.sort_by(|a, b| b.cmp(a));
        Ok(versions)
    })
    .await
}

/// Reverts every migration, newest first: `down.sql`, then `up.sql` again
/// over what is left (an upgrade of a populated database), then `down.sql`
/// once more. Returns the versions reverted.
async fn revert_every_migration(url: &str) -> Vec<String> {
    harness(url, |conn| {
        let mut reverted = Vec::new();
        loop {
            let mut versions = conn.applied_migrations().map_err(|e| e.to_string())?;
            versions.sort();
            let Some(newest) = versions.pop() else {
                return Ok(reverted);
            };
            conn.revert_last_migration(MIGRATIONS)
                .map_err(|e| format!("reverting {newest}: {e}"))?;
            conn.run_next_migration(MIGRATIONS)
                .map_err(|e| format!("applying {newest} again: {e}"))?;
            conn.revert_last_migration(MIGRATIONS)
                .map_err(|e| format!("reverting {newest} again: {e}"))?;
            reverted.push(newest.to_string());
        }
    })
    .await
}

type Harness = AsyncConnectionWrapper<AsyncPgConnection>;

/// Diesel's migration harness is synchronous: `run` gets a connection of
/// its own on a thread of its own, as `db::run_migrations` does.
async fn harness<T: Send + 'static>(
    url: &str,
    run: impl FnOnce(&mut Harness) -> Result<T, String> + Send + 'static,
) -> T {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let mut conn = <Harness as diesel::Connection>::establish(&url).unwrap();
            run(&mut conn)
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// What the migrations made, one line per object, sorted: relations
/// (tables, indexes, sequences, views) with their columns, constraints,
/// index definitions, functions with a hash of their body, triggers, types
/// and extensions. Diesel's own bookkeeping table is left out.
async fn schema(app: &TestApp) -> Vec<String> {
    const SQL: &str = "
        WITH public_relations AS (
            SELECT c.oid, c.relname, c.relkind FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace
              AND c.relname NOT LIKE '\\_\\_diesel\\_schema\\_migrations%'
        )
        SELECT format('relation %s %s', relname, relkind) AS value FROM public_relations
        UNION ALL
        SELECT format('column %s.%s %s %s not null %s default %s generated %s', r.relname, a.attnum,
                      a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), a.attgenerated)
        FROM public_relations r JOIN pg_attribute a ON a.attrelid = r.oid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r', 'v', 'm', 'p')
        UNION ALL
        SELECT format('index %s', pg_get_indexdef(r.oid)) FROM public_relations r WHERE r.relkind = 'i'
        UNION ALL
        SELECT format('view %s %s', r.relname, md5(pg_get_viewdef(r.oid)))
        FROM public_relations r WHERE r.relkind IN ('v', 'm')
        UNION ALL
        SELECT format('constraint %s.%s %s', r.relname, c.conname, pg_get_constraintdef(c.oid))
        FROM pg_constraint c JOIN public_relations r ON r.oid = c.conrelid
        UNION ALL
        SELECT format('trigger %s %s', pg_get_triggerdef(t.oid), t.tgenabled)
        FROM pg_trigger t JOIN public_relations r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
        UNION ALL
        SELECT format('function %s %s', p.oid::regprocedure, md5(pg_get_functiondef(p.oid)))
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
        UNION ALL
        SELECT format('routine %s %s', p.oid::regprocedure, p.prokind)
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind NOT IN ('f', 'p')
        UNION ALL
        SELECT format('type %s %s', t.typname, t.typtype) FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typcategory <> 'A'
          AND (t.typtype <> 'c' OR t.typrelid NOT IN (SELECT oid FROM public_relations))
          AND t.typname NOT LIKE '\\_\\_diesel\\_schema\\_migrations%'
        UNION ALL
        SELECT format('extension %s', e.extname) FROM pg_extension e WHERE e.extname <> 'plpgsql'
        ORDER BY 1";
    app.strings(SQL).await.into_iter().flatten().collect()
}

/// A second server on the app's database, started after the round trip:
/// nothing it knows predates it. Its client's token is created afresh (the
/// round trip dropped the old ones with their table).
struct Server {
    address: String,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
}

impl Server {
    async fn start(app: &TestApp) -> Self {
        let mut conn = app.pool.get().await.unwrap();
        let token = db::tokens::create(&mut conn, TokenSpec::new("after", Scope::Write))
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = chronik::app::run(listener, &app.config).unwrap();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            address: format!("http://127.0.0.1:{port}"),
            client: client(Some(&token.secret)),
            handle,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        let reply = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{path}");
        reply.json().await.unwrap()
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }
}
