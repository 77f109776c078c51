//! The control plane started on 127.0.0.1:0 over a fresh state on either backend (a SQLite
//! file, or a new PostgreSQL database on the server `TERN_TEST_POSTGRES_URL` names), and a
//! JSON caller. `on_both_backends!` runs each test body once per backend.

#![allow(dead_code)]

use serde_json::{json, Value};

pub const SECRET: &str = "test-cluster-secret";

/// Where a test keeps its state.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares, for each `fn NAME(&Server)`, the tests `NAME::sqlite` and `NAME::postgres`;
/// with `run_on_db:` first, for each `fn NAME(&TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $crate::on_both_backends!(run: $($name),+);
    };
    ($runner:ident: $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                $crate::common::$runner($crate::common::Backend::Sqlite, super::$name);
            }
            #[test]
            fn postgres() {
                $crate::common::$runner($crate::common::Backend::Postgres, super::$name);
            }
        }
    )+};
}

/// Runs `body` against a control plane over a fresh state of `backend`.
pub fn run(backend: Backend, body: fn(&Server)) {
    if let Some(db) = TestDb::create(backend) {
        body(&start(db));
    }
}

/// Runs `body` with a fresh, empty state of `backend` (no control plane started).
pub fn run_on_db(backend: Backend, body: fn(&TestDb)) {
    if let Some(db) = TestDb::create(backend) {
        body(&db);
    }
}

/// A fresh, empty state, deleted on drop: a SQLite file in its own temp dir, or a PostgreSQL
/// database `test_<random>` created on the server of `TERN_TEST_POSTGRES_URL`.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    /// `None` (after saying so) when PostgreSQL is asked for but not configured, outside CI;
    /// in CI (`CI` set) that is a failure, so the PostgreSQL tests can never silently vanish.
    pub fn create(backend: Backend) -> Option<TestDb> {
        let suffix = control_plane::store::random_hex(8);
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("tern-cp-test-{suffix}"));
                std::fs::create_dir_all(&dir).unwrap();
                Some(TestDb { url: control_plane::sqlite_url(&dir), cleanup: Cleanup::Dir(dir) })
            }
            Backend::Postgres => {
                let Some(admin_url) = std::env::var("TERN_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "CI is set but TERN_TEST_POSTGRES_URL is not: the PostgreSQL tests must run in CI \
                         (scripts/test.sh starts a server)"
                    );
                    eprintln!("skipping the PostgreSQL variant: TERN_TEST_POSTGRES_URL is not set");
                    return None;
                };
                let name = format!("test_{suffix}");
                create_database(&admin_url, &name);
                let url = with_database(&admin_url, &name);
                Some(TestDb { url, cleanup: Cleanup::Database { admin_url, name } })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            // FORCE ends the server's connections, which outlive the test.
            Cleanup::Database { admin_url, name } => {
                let _ = admin(admin_url, &[&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")]);
            }
        }
    }
}

/// Creates the database with an ICU collation that ignores punctuation (like glibc's
/// en_US.UTF-8 that production servers often have), so a query whose order depends on the
/// collation gives another order than SQLite's byte order and a test can see it. A server
/// without ICU gets a plain database.
fn create_database(admin_url: &str, name: &str) {
    let icu = format!("CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-u-ka-shifted'");
    if admin(admin_url, &[&icu]).is_err() {
        admin(admin_url, &[&format!("CREATE DATABASE {name}")]).unwrap();
    }
}

/// Runs statements on the PostgreSQL server outside any transaction.
fn admin(url: &str, statements: &[&str]) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        for sql in statements {
            sqlx::query(sql).execute(&mut conn).await?;
        }
        conn.close().await
    })
}

/// `url` with its database (the path) replaced by `name`, keeping any `?options`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A control plane serving the API on 127.0.0.1:0; its state goes away with the `Server`.
pub struct Server {
    base: String,
    db: TestDb,
}

pub fn start(db: TestDb) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = db.url.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let store = match control_plane::Store::open(&url).await {
                Ok(store) => store,
                Err(e) => return tx.send(Err(format!("opening {url}: {e}"))).unwrap(),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(Ok(listener.local_addr().unwrap())).unwrap();
            let config = control_plane::Config { cluster_secret: SECRET.into(), node_timeout_secs: 15 };
            control_plane::serve(listener, store, config).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap().unwrap();
    Server { base: format!("http://{addr}"), db }
}

impl Server {
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap();
        // The console's pages are not JSON: their text is returned as a JSON string.
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    /// `http://127.0.0.1:PORT`, for requests that need more than `call` gives.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A new org; returns its token.
    pub fn org(&self, name: &str) -> String {
        let (st, v) = self.call("POST", "/v1/orgs", Some(SECRET), Some(json!({"name": name})));
        assert_eq!(st, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    pub fn node(&self, id: &str, region: &str, addr: &str) {
        let body = json!({"id": id, "region": region, "redis_addr": addr});
        let (st, v) = self.call("POST", "/v1/nodes/register", Some(SECRET), Some(body));
        assert_eq!(st, 200, "{v}");
    }

    /// Registers a node serving Redis (127.0.0.1:790N) and Kafka (127.0.0.1:990N) in each of
    /// `regions`, N being its position: databases and Kafka clusters may be created there.
    pub fn live_nodes(&self, regions: &[&str]) {
        for (i, region) in regions.iter().enumerate() {
            let body = json!({
                "id": format!("live-{region}"),
                "region": region,
                "redis_addr": format!("127.0.0.1:{}", 7900 + i),
                "kafka_addr": format!("127.0.0.1:{}", 9900 + i),
            });
            let (st, v) = self.call("POST", "/v1/nodes/register", Some(SECRET), Some(body));
            assert_eq!(st, 200, "{v}");
        }
    }

    /// Registers a node that serves Kafka at `kafka_addr`; returns its id.
    pub fn kafka_node(&self, id: &str, region: &str, kafka_addr: &str) -> String {
        let body = json!({"id": id, "region": region, "redis_addr": "127.0.0.1:6379", "kafka_addr": kafka_addr});
        let (st, v) = self.call("POST", "/v1/nodes/register", Some(SECRET), Some(body));
        assert_eq!(st, 200, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}

/// Names in the order the listing sorts them, chosen so that byte order differs from the
/// order of a collation that ignores '-' (the PostgreSQL test databases have one).
pub const NAMES_IN_BYTE_ORDER: [&str; 4] = ["a-b", "a-c", "a1", "ab"];

impl Server {
    /// Creates one resource per name of `NAMES_IN_BYTE_ORDER` (in another order) with `POST path`
    /// and `body` plus the name, then returns the names `GET path` lists, in its order.
    pub fn names_listed_after_creating(&self, token: &str, path: &str, body: Value) -> Vec<String> {
        for name in ["ab", "a-c", "a1", "a-b"] {
            let mut b = body.clone();
            b["name"] = json!(name);
            let (st, v) = self.call("POST", path, Some(token), Some(b));
            assert_eq!(st, 201, "{v}");
        }
        let (st, list) = self.call("GET", path, Some(token), None);
        assert_eq!(st, 200, "{list}");
        list.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect()
    }

    /// Sends the same request from `n` threads at once; returns the statuses.
    pub fn concurrently(&self, n: usize, method: &str, path: &str, token: &str, body: Value) -> Vec<u16> {
        std::thread::scope(|scope| {
            let calls: Vec<_> =
                (0..n).map(|_| scope.spawn(|| self.call(method, path, Some(token), Some(body.clone())).0)).collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        })
    }
}

/// Exactly one request of `statuses` created the thing (201); all the others were told it
/// exists (409), none failed.
pub fn assert_one_created(statuses: &[u16]) {
    assert_eq!(statuses.iter().filter(|&&st| st == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|&st| st == 201 || st == 409), "{statuses:?}");
}

pub fn assert_error(r: &(u16, Value), status: u16, contains: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    assert_eq!(r.1["status"], status, "{}", r.1);
    let msg = r.1["error"].as_str().unwrap_or_default();
    assert!(msg.contains(contains), "expected '{contains}' in '{msg}'");
}
