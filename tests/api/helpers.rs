//! `spawn_app()`: each test gets its own server and its own database, cloned
//! from a migrated template and dropped when the test ends.

use chronik::config::Config;
use chronik::db::tokens::TokenSpec;
use chronik::db::{self, DbPool};
use chronik::models::token::{CreatedToken, Scope};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use std::net::TcpListener;
use tokio::sync::OnceCell;

/// The Postgres server tests run against (no database name).
fn server_url() -> String {
    std::env::var("CHRONIK_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Templates are named `chronik_tpl_<unix seconds>_<uuid>`. Test runs of other
/// checkouts may share the server, so a run drops only templates old enough
/// that no run can still be cloning them, never a fresh one of another run.
const TEMPLATE_PREFIX: &str = "chronik_tpl_";
const STALE_TEMPLATE_SECS: u64 = 6 * 60 * 60;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn is_stale_template(name: &str, now: u64) -> bool {
    name.strip_prefix(TEMPLATE_PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|created| created.parse::<u64>().ok())
        .is_some_and(|created| now.saturating_sub(created) > STALE_TEMPLATE_SECS)
}

/// A database with all migrations applied, built once per test process so
/// that no run depends on what an earlier one left behind.
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let now = unix_now();
            let name = format!("{TEMPLATE_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
            let mut conn = maintenance().await;
            execute(&mut conn, "SELECT pg_advisory_lock(7205119)").await;
            for stale in databases_like(&mut conn, &format!("{TEMPLATE_PREFIX}%")).await {
                if is_stale_template(&stale, now) {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {stale}"))
                        .execute(&mut conn)
                        .await;
                }
            }
            execute(&mut conn, "SELECT pg_advisory_unlock(7205119)").await;
            execute(&mut conn, &format!("CREATE DATABASE {name}")).await;
            db::run_migrations(&format!("{}/{name}", server_url()))
                .await
                .expect("migrating the template");
            name
        })
        .await
}

async fn maintenance() -> AsyncPgConnection {
    AsyncPgConnection::establish(&format!("{}/postgres", server_url()))
        .await
        .expect("connecting to Postgres; is it running? (see README)")
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn databases_like(conn: &mut AsyncPgConnection, pattern: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let rows: Vec<Name> =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind::<diesel::sql_types::Text, _>(pattern)
            .load(conn)
            .await
            .expect("querying pg_database");
    rows.into_iter().map(|r| r.datname).collect()
}

pub struct TestApp {
    pub address: String,
    /// Sends the admin token with every request (a request's own `Authorization` wins).
    pub client: reqwest::Client,
    /// Sends no token.
    pub anonymous: reqwest::Client,
    /// The admin token `client` uses.
    pub admin: CreatedToken,
    pub config: Config,
    pub pool: DbPool,
    /// The private address serving `/metrics` without a token, if the app has one.
    pub metrics_address: Option<String>,
    database: String,
    server: actix_web::dev::ServerHandle,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with settings changed by `configure` first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn(configure, None).await
}

/// Like [`spawn_app`], also serving `/metrics` without a token on a private
/// address of its own (as `CHRONIK_METRICS_ADDR` makes it): `metrics_address`.
pub async fn spawn_app_with_private_metrics() -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port");
    spawn(|_| {}, Some(listener)).await
}

async fn spawn(configure: impl FnOnce(&mut Config), metrics: Option<TcpListener>) -> TestApp {
    let template = template().await;
    let database = format!("chronik_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = maintenance().await;
    execute(
        &mut conn,
        &format!("CREATE DATABASE {database} TEMPLATE {template}"),
    )
    .await;
    let mut config = Config::for_database(format!("{}/{database}", server_url()));
    configure(&mut config);
    let pool = db::build_pool(&config.database_url, 8).expect("pool");
    let admin = create_token(&pool, TokenSpec::new("test admin", Scope::Admin)).await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let port = listener.local_addr().expect("local addr").port();
    let metrics_address = metrics
        .as_ref()
        .map(|l| format!("http://{}", l.local_addr().expect("local addr")));
    let server = chronik::app::run_with(listener, metrics, &config).expect("starting the server");
    let handle = server.handle();
    tokio::spawn(server);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: client(Some(&admin.secret)),
        anonymous: client(None),
        admin,
        config,
        pool,
        metrics_address,
        database,
        server: handle,
    }
}

/// A second server on a test app's database: another instance of the same deployment.
pub struct Instance {
    pub address: String,
    server: actix_web::dev::ServerHandle,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

impl TestApp {
    /// Starts another server on this app's database.
    pub fn another_instance(&self) -> Instance {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port");
        let port = listener.local_addr().expect("local addr").port();
        let server = chronik::app::run(listener, &self.config).expect("starting the server");
        let handle = server.handle();
        tokio::spawn(server);
        Instance {
            address: format!("http://127.0.0.1:{port}"),
            server: handle,
        }
    }
}

async fn create_token(pool: &DbPool, spec: TokenSpec) -> CreatedToken {
    let mut conn = pool.get().await.expect("connection");
    db::tokens::create(&mut conn, spec)
        .await
        .expect("creating a token")
}

/// A client that sends `token` (if any) with every request.
pub fn client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .expect("header value");
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server and drop the database even when the test panicked.
        drop(self.server.stop(false));
        let database = self.database.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = maintenance().await;
                execute(
                    &mut conn,
                    &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
                )
                .await;
            });
        })
        .join();
    }
}

/// A response read whole: what a client sees.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// The header names `Vary` lists, from every `Vary` line, lower-cased.
    pub fn vary(&self) -> Vec<String> {
        self.headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .collect()
    }

    /// Asserts a problem+json error with `status` that names `field` in `errors`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, field: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["status"], status);
        let fields: Vec<&str> = self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field),
            "expected an error for `{field}`, got {}",
            self.text
        );
    }

    /// The `data` array's `field` values, in order.
    pub fn column(&self, field: &str) -> Vec<Value> {
        self.body["data"]
            .as_array()
            .map(|items| items.iter().map(|item| item[field].clone()).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Creates a token straight in the database, as `chronik token create` does.
    pub async fn token(&self, spec: TokenSpec) -> CreatedToken {
        create_token(&self.pool, spec).await
    }

    /// The secret of a new token with `scope`.
    pub async fn secret(&self, scope: Scope) -> String {
        self.token(TokenSpec::new(format!("test {scope}"), scope))
            .await
            .secret
    }

    /// A client that sends `secret` with every request.
    pub fn client_with(&self, secret: &str) -> reqwest::Client {
        client(Some(secret))
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // A live stream does not end: what a client sees of it at once is its status and headers.
        let streams = headers
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = match streams {
            true => String::new(),
            false => response.text().await.expect("reading the body"),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.put(self.url(path)).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(
            self.client
                .patch(self.url(path))
                .header("content-type", "application/merge-patch+json")
                .body(body.to_string()),
        )
        .await
    }

    /// Posts a valid event through `client`, whatever its token may do.
    pub async fn post_event_with(&self, client: &reqwest::Client) -> Reply {
        self.send(
            client
                .post(self.url("/v1/events"))
                .json(&event("t", "2022-01-05T00:00:00Z")),
        )
        .await
    }

    /// The titles `GET /v1/events?{query}` lists, in order (asserting a 200).
    pub async fn titles(&self, query: &str) -> Vec<String> {
        let reply = self.get(&format!("/v1/events?{query}")).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.text);
        reply
            .column("title")
            .into_iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Creates an event and returns it as stored.
    pub async fn create_event(&self, event: &Value) -> Value {
        let reply = self.post("/v1/events", event).await;
        assert_eq!(reply.status, 201, "creating an event: {}", reply.text);
        reply.body
    }

    pub async fn create_timeline(&self, slug: &str) -> Value {
        let reply = self
            .post(
                "/v1/timelines",
                &json!({"slug": slug, "title": format!("Timeline {slug}")}),
            )
            .await;
        assert_eq!(reply.status, 201, "creating a timeline: {}", reply.text);
        reply.body
    }

    /// Asserts that reads and a write are served, e.g. while bulk work runs:
    /// four pages, so that every worker's pool is asked, and one create.
    pub async fn assert_requests_served(&self, title: &str) {
        for _ in 0..4 {
            let page = self.get("/v1/events?limit=1").await;
            assert_eq!(page.status, 200, "{}", page.text);
        }
        let created = self
            .post("/v1/events", &event(title, "2022-01-05T12:00:00Z"))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }

    /// Follows `next_cursor` from `path` and returns every page's ids in order.
    pub async fn all_ids(&self, path: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(url) = next.take() {
            let reply = self.get(&url).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            ids.extend(
                reply
                    .column("id")
                    .into_iter()
                    .filter_map(|v| v.as_str().map(String::from)),
            );
            if let Some(cursor) = reply.body["next_cursor"].as_str() {
                let sep = if path.contains('?') { '&' } else { '?' };
                next = Some(format!("{path}{sep}cursor={cursor}"));
            }
        }
        ids
    }

    /// Runs a statement with plain SQL, to set up states no endpoint can reach (an expired token).
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.pool.get().await.expect("connection");
        diesel::sql_query(sql).execute(&mut conn).await.expect(sql);
    }

    /// The text values of one column, with plain SQL.
    pub async fn strings(&self, sql: &str) -> Vec<Option<String>> {
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            value: Option<String>,
        }
        let mut conn = self.pool.get().await.expect("connection");
        let rows: Vec<Text> = diesel::sql_query(sql).load(&mut conn).await.expect(sql);
        rows.into_iter().map(|r| r.value).collect()
    }

    /// Counts rows with plain SQL, for checks no endpoint exposes yet.
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.pool.get().await.expect("connection");
        let rows: Vec<Count> = diesel::sql_query(sql).load(&mut conn).await.expect(sql);
        rows[0].n
    }
}

/// A valid event; override fields with `with`.
/// An event using every field, with text that needs quoting in CSV or
/// escaping in JSON, and a fractional second.
pub fn rich_event() -> Value {
    json!({
        "external_id": "kz-2022-rich",
        "title": "Kommas, \"Anführungszeichen\" und Zeilen",
        "summary": "Erste Zeile, mit Komma\nzweite Zeile: \"Dutzende\" getötet; Алматы 🕯️\r\ndritte",
        "language": "de",
        "type": "casualties",
        "occurred_start": "2022-01-05T18:00:00+06:00",
        "occurred_end": "2022-01-06T06:00:00.5+06:00",
        "precision": "hour",
        "timezone": "Asia/Almaty",
        "location": {"name": "Almaty, Republic Square", "admin1": "Almaty", "country_code": "KZ", "lat": 43.2389, "lon": 76.8897},
        "actors": [{"name": "Saltanat Azirbek", "role": "police spokesperson, \"Polizei\""}, {"name": "Protesters; various"}],
        "casualties": [
            {"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"},
            {"kind": "killed", "party": "police", "min": 8, "max": 8, "status": "confirmed"},
            {"kind": "killed", "party": "soldiers", "min": 2, "max": 3, "status": "confirmed"},
            {"kind": "injured", "party": "police", "min": 0, "max": 100, "status": "disputed"},
        ],
        "sources": [{"url": "https://example.org/a?x=1,2", "title": "Live, \"Ticker\"", "publisher": "Example", "published_at": "2022-01-06T09:00:00Z", "via": ["TASS", "Interfax-Kazakhstan"], "quote": "\"eliminiert\"\nzitiert"}],
        "status": "reported",
        "tags": ["almaty", "night raid"],
        "timelines": ["kz"],
    })
}

pub fn event(title: &str, start: &str) -> Value {
    json!({
        "title": title,
        "type": "protest",
        "occurred_start": start,
        "location": {"name": "Almaty", "country_code": "KZ", "lat": 43.2389, "lon": 76.8897},
    })
}

pub fn with(mut base: Value, overrides: Value) -> Value {
    if let (Some(base), Some(overrides)) = (base.as_object_mut(), overrides.as_object()) {
        for (k, v) in overrides {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

/// A CSV document read with a real CSV reader: the header and each row by column name.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<std::collections::HashMap<String, String>>,
}

impl Table {
    #[track_caller]
    pub fn parse(text: &str) -> Table {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .expect("a CSV header row")
            .iter()
            .map(String::from)
            .collect();
        let rows = reader
            .records()
            .map(|record| {
                let record = record.expect("a well-formed CSV record");
                assert_eq!(record.len(), header.len(), "every row has every column");
                header
                    .iter()
                    .cloned()
                    .zip(record.iter().map(String::from))
                    .collect()
            })
            .collect();
        Table { header, rows }
    }

    pub fn column(&self, name: &str) -> Vec<&str> {
        self.rows.iter().map(|r| r[name].as_str()).collect()
    }
}

impl TestApp {
    /// GET with an `Accept` header.
    pub async fn get_accepting(&self, path: &str, accept: &str) -> Reply {
        self.send(self.client.get(self.url(path)).header("accept", accept))
            .await
    }

    /// Inserts `n` events straight into the database (with the revision of
    /// their version, without children), one a minute from 2020-01-01 UTC, each with a summary of
    /// about `summary_len` bytes: data for tests of large exports.
    pub async fn insert_bulk_events(&self, n: i64, summary_len: i32) {
        let mut conn = self.pool.get().await.expect("connection");
        diesel::sql_query(
            "INSERT INTO events (id, title, summary, language, event_type, occurred_start, created_at, updated_at, \
                 location_name, country_code, lat, lon, tags) \
             SELECT gen_random_uuid(), 'Bulk event ' || i, rpad('Summary ' || i || ' ', $2, 'lorem ipsum '), 'en', \
                 'protest', timestamptz '2020-01-01 00:00:00+00' + i * interval '1 minute', now(), now(), \
                 'Almaty', 'KZ', 43.2389, 76.8897, ARRAY['bulk'] \
             FROM generate_series(1, $1) AS i",
        )
        .bind::<diesel::sql_types::BigInt, _>(n)
        .bind::<diesel::sql_types::Integer, _>(summary_len)
        .execute(&mut conn)
        .await
        .expect("bulk insert");
        // Every event has the revision of its version, as every write makes it.
        diesel::sql_query(
            "INSERT INTO event_revisions (event_id, version, kind, known_at, snapshot, deleted, occurred_start, \
                 occurred_from, occurred_until, event_type, country_code, status, tags, actor_keys, timeline_slugs, \
                 lat, lon, search_config, search) \
             SELECT e.id, 1, 'created', e.created_at, jsonb_build_object('id', e.id, 'external_id', NULL, \
                 'title', e.title, 'summary', e.summary, 'language', e.language, 'type', e.event_type, \
                 'occurred_start', e.occurred_start, 'occurred_end', NULL, 'precision', e.precision, 'timezone', NULL, \
                 'location', jsonb_build_object('name', e.location_name, 'admin1', NULL, 'country_code', e.country_code, \
                     'lat', e.lat, 'lon', e.lon), \
                 'actors', '[]'::jsonb, 'casualties', e.casualties, 'sources', '[]'::jsonb, 'status', e.status, \
                 'tags', to_jsonb(e.tags), 'timelines', '[]'::jsonb, 'version', 1, 'created_at', e.created_at, \
                 'updated_at', e.updated_at), \
                 false, e.occurred_start, e.occurred_from, e.occurred_until, e.event_type, e.country_code, e.status, e.tags, '{}', '{}', \
                 e.lat, e.lon, e.search_config, e.search \
             FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_revisions r WHERE r.event_id = e.id)",
        )
        .execute(&mut conn)
        .await
        .expect("bulk revisions");
    }
}

/// Loads the demo as `chronik demo` does: upserting, so that reloading changes nothing.
pub async fn load_demo(conn: &mut AsyncPgConnection) -> chronik::import::Summary {
    let demo = std::io::Cursor::new(chronik::import::DEMO.as_bytes());
    chronik::import::import(
        conn,
        chronik::import::InputFormat::Json,
        demo,
        chronik::import::Mode::Upsert,
        Default::default(),
        Default::default(),
    )
    .await
    .expect("loading the demo")
}

/// A response to a request sent byte for byte as written, so that paths
/// reach the server exactly as an attacker would spell them (HTTP clients
/// normalise `.` and `..` segments away).
pub struct RawReply {
    pub status: u16,
    pub body: String,
}

impl TestApp {
    /// Sends `method target` over a fresh connection with `headers` and `body`.
    pub async fn raw(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> RawReply {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let authority = self.address.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("connecting to the app");
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.expect("sending");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("reading");
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {response:?}"));
        RawReply {
            status,
            body: body.to_owned(),
        }
    }
}

/// The URL of a database of this test server that does not exist yet; drop it with [`drop_database`].
pub fn new_database_url(name: &str) -> String {
    format!("{}/{name}", server_url())
}

/// Drops a database a test made outside [`spawn_app`].
pub async fn drop_database(name: &str) {
    let mut conn = maintenance().await;
    execute(
        &mut conn,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
}
