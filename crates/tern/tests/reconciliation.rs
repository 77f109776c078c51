//! Reconciliation with real processes: a `tern control-plane` and `tern node`s (each its own
//! process, data in its own folder) killed with SIGKILL and restarted in turn. Databases come
//! back with their keys, intent converges, a destroyed database never reappears and a reset
//! password stays reset. Every wait polls against a deadline.

mod common;

use common::{start_tern, tern, Dev};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECRET: &str = "reconciliation-test-secret";
/// The control plane's node timeout in these tests: a killed node shows as unreachable
/// (and its region as without live nodes) after this many seconds.
const NODE_TIMEOUT_SECS: &str = "2";

/// A fresh folder for one test, removed when the test ends (also when it fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tern-recon-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `ready` every 100 ms until it gives a value; panics with `what` after `secs`.
fn wait_for<T>(secs: u64, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The control plane process, restartable on the same port and state.
struct ControlPlane {
    dir: PathBuf,
    url: String,
    token: String,
    process: Option<Dev>,
}

impl ControlPlane {
    fn start(dir: &Path) -> ControlPlane {
        let dir = dir.join("control-plane");
        let process = start_tern_owned(&control_plane_args(&dir, "127.0.0.1:0"), "export TERN_API_TOKEN=");
        let url = process.export("TERN_API_URL");
        let token = process.export("TERN_API_TOKEN");
        ControlPlane { dir, url, token, process: Some(process) }
    }

    fn kill(&mut self) {
        self.process = None;
    }

    /// Starts it again on the same address over a new, empty state (as an operator who
    /// gave the wrong `--database-url` would): a new org and token, no databases.
    fn restart_on_new_state(&mut self, name: &str) {
        self.kill();
        let listen = self.url.trim_start_matches("http://").to_string();
        self.dir = self.dir.with_file_name(name);
        let process = start_tern_owned(&control_plane_args(&self.dir, &listen), "export TERN_API_TOKEN=");
        self.token = process.export("TERN_API_TOKEN");
        self.process = Some(process);
    }

    /// Starts it again on the same address and state (an existing state prints no token).
    fn restart(&mut self) {
        self.kill();
        let listen = self.url.trim_start_matches("http://").to_string();
        self.process = Some(start_tern_owned(&control_plane_args(&self.dir, &listen), "Nodes join with"));
    }

    fn tern(&self, args: &[&str]) -> (bool, String, String) {
        tern(&self.url, &self.token, args)
    }

    /// `tern ARGS --json`, which must succeed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (ok, out, err) = self.tern(&all);
        assert!(ok, "tern {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("tern {args:?} printed no JSON ({e}): {out}"))
    }

    /// The database as `tern redis status` shows it, `None` once it is not found.
    fn status(&self, name: &str) -> Option<Value> {
        let (ok, out, err) = self.tern(&["redis", "status", name, "--json"]);
        if !ok {
            assert!(err.contains("not found"), "status {name}: {err}");
            return None;
        }
        Some(serde_json::from_str(&out).unwrap())
    }
}

fn control_plane_args(dir: &Path, listen: &str) -> Vec<String> {
    let dir = dir.to_string_lossy().to_string();
    ["control-plane", "--data-dir", &dir, "--listen", listen, "--cluster-secret", SECRET]
        .into_iter()
        .chain(["--node-timeout-secs", NODE_TIMEOUT_SECS])
        .map(String::from)
        .collect()
}

fn start_tern_owned(args: &[String], last: &'static str) -> Dev {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start_tern(&args, last)
}

/// A node process of one region with its data folder, restartable on a new port.
struct NodeProcess {
    region: String,
    data_dir: PathBuf,
    control_plane: String,
    /// Where the node writes its bound address once it listens.
    ready_file: PathBuf,
    addr: String,
    process: Option<Dev>,
}

impl NodeProcess {
    fn start(dir: &Path, region: &str, control_plane: &ControlPlane) -> NodeProcess {
        let mut node = NodeProcess {
            region: region.to_string(),
            data_dir: dir.join(format!("node-{region}")),
            control_plane: control_plane.url.clone(),
            ready_file: dir.join(format!("node-{region}.addr")),
            addr: String::new(),
            process: None,
        };
        node.restart();
        node
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        self.process = None;
    }

    /// Starts it (again) with the same data folder, on a free port.
    fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// Starts it (again) like `restart`, with `extra` flags.
    fn restart_with(&mut self, extra: &[&str]) {
        self.kill();
        let _ = std::fs::remove_file(&self.ready_file);
        let data_dir = self.data_dir.to_string_lossy().to_string();
        let ready = self.ready_file.to_string_lossy().to_string();
        let args = [
            "node",
            "--region",
            &self.region,
            "--redis-addr",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--data-dir",
            &data_dir,
            "--fsync",
            "always",
            "--control-plane",
            &self.control_plane,
            "--cluster-secret",
            SECRET,
            "--ready-file",
            &ready,
        ];
        let args: Vec<String> = args.iter().chain(extra).map(|a| a.to_string()).collect();
        self.process = Some(start_tern_owned(&args, ""));
        let file = self.ready_file.clone();
        self.addr =
            wait_for(20, "the node's ready file", || std::fs::read_to_string(&file).ok().filter(|a| !a.is_empty()));
    }

    /// The control plane state the node serves (`DATA_DIR/deployment-id`), once it has one.
    fn served_deployment(&self) -> Option<String> {
        std::fs::read_to_string(self.data_dir.join("deployment-id")).ok().map(|s| s.trim().to_string())
    }

    /// The folder of one database's files on this node.
    fn database_dir(&self, id: &str) -> PathBuf {
        self.data_dir.join(id)
    }
}

/// A connection authenticated with `password`, or why not.
fn connect(addr: &str, password: &str) -> Result<redis::Connection, String> {
    let client = redis::Client::open(format!("redis://default:{password}@{addr}")).map_err(|e| e.to_string())?;
    client.get_connection_with_timeout(Duration::from_secs(2)).map_err(|e| e.to_string())
}

fn refused(addr: &str, password: &str) -> bool {
    match connect(addr, password) {
        Ok(mut con) => redis::cmd("PING").query::<String>(&mut con).is_err(),
        Err(_) => true,
    }
}

const KEYS: usize = 50;

fn write_keys(addr: &str, password: &str) {
    let mut con = connect(addr, password).unwrap();
    for i in 0..KEYS {
        let _: () = redis::cmd("SET").arg(format!("key:{i}")).arg(format!("value-{i}")).query(&mut con).unwrap();
    }
}

/// All keys `write_keys` wrote, read back; `Err` while the database is not served there.
fn read_keys(addr: &str, password: &str) -> Result<Vec<Option<String>>, String> {
    let mut con = connect(addr, password)?;
    (0..KEYS).map(|i| redis::cmd("GET").arg(format!("key:{i}")).query(&mut con).map_err(|e| e.to_string())).collect()
}

fn expected_keys() -> Vec<Option<String>> {
    (0..KEYS).map(|i| Some(format!("value-{i}"))).collect()
}

/// The keys become readable at `addr` with `password` within the deadline, all of them.
fn assert_keys_served(addr: &str, password: &str) {
    let keys = wait_for(15, &format!("the database served at {addr}"), || read_keys(addr, password).ok());
    assert_eq!(keys, expected_keys(), "the keys came back different");
}

fn region_status<'a>(db: &'a Value, region: &str) -> &'a Value {
    let regions = db["regions"].as_array().expect("regions");
    regions.iter().find(|r| r["region"] == region).unwrap_or_else(|| panic!("no region {region} in {db}"))
}

/// Waits until the region's status is `ready` with `endpoint`.
fn wait_ready(cp: &ControlPlane, name: &str, region: &str, endpoint: &str) -> Value {
    wait_for(15, &format!("{name} ready in {region} at {endpoint}"), || {
        let db = cp.status(name)?;
        let r = region_status(&db, region);
        (r["status"] == "ready" && r["endpoint"] == endpoint).then_some(db)
    })
}

/// Waits until the read region's replica is `ready`, and returns its endpoint.
fn wait_replica_ready(cp: &ControlPlane, name: &str, region: &str) -> String {
    wait_for(20, &format!("{name}'s replica ready in {region}"), || {
        let db = cp.status(name)?;
        let r = region_status(&db, region);
        (r["status"] == "ready").then(|| r["endpoint"].as_str().expect("a ready replica's endpoint").to_string())
    })
}

fn create(cp: &ControlPlane, name: &str, region: &str, replicas: &[&str]) -> Value {
    let replicas = replicas.join(",");
    // A fixed plan's policy is `always`: the tests kill nodes right after writing, and every
    // acknowledged write must be on disk (`payg` is `everysec`, whatever the node's --fsync).
    let mut args = vec!["redis", "create", "--name", name, "--region", region, "--plan", "fixed-250mb"];
    if replicas.is_empty() {
        args.push("--no-replicas");
    } else {
        args.extend(["--replica-regions", &replicas]);
    }
    let db = cp.json(&args);
    assert_eq!(region_status(&db, region)["status"], "ready", "{db}");
    db
}

fn password(db: &Value) -> String {
    db["password"].as_str().expect("a password").to_string()
}

fn id(db: &Value) -> String {
    db["id"].as_str().expect("an id").to_string()
}

/// The primary's node is killed while a replica region's node keeps running: the API says so,
/// the replica keeps serving the keys it has, and once the primary's node is back (new port,
/// same folder) it serves every acknowledged key again and the replica follows it again.
#[test]
fn a_killed_node_comes_back_with_its_keys() {
    let dir = TempDir::new("node-restart");
    let cp = ControlPlane::start(&dir.0);
    let mut mad = NodeProcess::start(&dir.0, "mad", &cp);
    let _ams = NodeProcess::start(&dir.0, "ams", &cp);
    let db = create(&cp, "kv", "mad", &["ams"]);
    let pw = password(&db);
    write_keys(&mad.addr, &pw);
    let ams_endpoint = wait_replica_ready(&cp, "kv", "ams");
    assert_keys_served(&ams_endpoint, &pw);

    mad.kill();
    let db = wait_for(10, "mad shown as not ready while its node is down", || {
        let db = cp.status("kv")?;
        (region_status(&db, "mad")["status"] != "ready").then_some(db)
    });
    let shown = region_status(&db, "mad")["status"].as_str().unwrap_or_default().to_string();
    assert!(shown.starts_with("unreachable"), "{db}");
    // The replica cannot follow a dead primary, so it is not shown ready; it still answers reads.
    wait_for(10, "ams not ready while its primary is down", || {
        (region_status(&cp.status("kv")?, "ams")["status"] != "ready").then_some(())
    });
    assert_eq!(read_keys(&ams_endpoint, &pw), Ok(expected_keys()));

    mad.restart();
    let db = wait_ready(&cp, "kv", "mad", &mad.addr);
    assert_eq!(db["url"], format!("redis://default:{pw}@{}", mad.addr), "{db}");
    assert_keys_served(&mad.addr, &pw);
    assert_eq!(wait_replica_ready(&cp, "kv", "ams"), ams_endpoint);
    assert_keys_served(&ams_endpoint, &pw);
}

/// A read region holds a replica that follows its primary: it serves the primary's keys
/// (strings, a hash, a TTL'd key that it hides past its deadline), refuses writes, catches up
/// after its node was killed (with the writes made meanwhile), and its copy is dropped when
/// the read region is removed; destroying the database removes it everywhere.
#[test]
fn a_read_region_replica_follows_its_primary() {
    let dir = TempDir::new("replica");
    let cp = ControlPlane::start(&dir.0);
    let mad = NodeProcess::start(&dir.0, "mad", &cp);
    let mut ams = NodeProcess::start(&dir.0, "ams", &cp);
    let db = create(&cp, "rr", "mad", &["ams"]);
    let pw = password(&db);
    write_keys(&mad.addr, &pw);
    let mut primary = connect(&mad.addr, &pw).unwrap();
    let _: () = redis::cmd("HSET").arg("h").arg("f1").arg("a").arg("f2").arg("b").query(&mut primary).unwrap();
    let _: () = redis::cmd("SET").arg("short").arg("x").arg("PX").arg(1500).query(&mut primary).unwrap();
    let _: () = redis::cmd("SET").arg("long").arg("y").arg("EX").arg(1000).query(&mut primary).unwrap();

    let endpoint = wait_replica_ready(&cp, "rr", "ams");
    assert_eq!(endpoint, ams.addr);
    assert_keys_served(&endpoint, &pw);
    let mut replica = connect(&endpoint, &pw).unwrap();
    let hash: Vec<String> = redis::cmd("HGETALL").arg("h").query(&mut replica).unwrap();
    assert_eq!(hash, ["f1", "a", "f2", "b"]);
    let ttl: i64 = redis::cmd("TTL").arg("long").query(&mut replica).unwrap();
    assert!((990..=1000).contains(&ttl), "{ttl}");
    let short: Option<String> = redis::cmd("GET").arg("short").query(&mut replica).unwrap();
    assert_eq!(short.as_deref(), Some("x"));
    std::thread::sleep(Duration::from_millis(1600));
    let short: Option<String> = redis::cmd("GET").arg("short").query(&mut replica).unwrap();
    assert_eq!(short, None, "a key past its deadline is shown on the replica");
    // A write on the replica is forwarded to the primary; the same connection reads it at once.
    let _: () = redis::cmd("SET").arg("forwarded").arg("1").query(&mut replica).unwrap();
    let _: () = redis::cmd("HSET").arg("h").arg("f3").arg("c").query(&mut replica).unwrap();
    let got: Option<String> = redis::cmd("GET").arg("forwarded").query(&mut replica).unwrap();
    assert_eq!(got.as_deref(), Some("1"));
    let got: Option<String> = redis::cmd("HGET").arg("h").arg("f3").query(&mut replica).unwrap();
    assert_eq!(got.as_deref(), Some("c"));
    let got: Option<String> = redis::cmd("GET").arg("forwarded").query(&mut primary).unwrap();
    assert_eq!(got.as_deref(), Some("1"));
    let _: () = redis::cmd("HDEL").arg("h").arg("f3").query(&mut replica).unwrap();
    // A transaction is forwarded whole at EXEC, and read back at once too.
    let (one, two): (i64, i64) =
        redis::pipe().atomic().cmd("INCR").arg("tx").cmd("INCR").arg("tx").query(&mut replica).unwrap();
    assert_eq!((one, two), (1, 2));
    let got: Option<String> = redis::cmd("GET").arg("tx").query(&mut replica).unwrap();
    assert_eq!(got.as_deref(), Some("2"));
    // Not forwarded yet: blocking pops (and scripts, WATCHed transactions) are refused, never
    // applied here.
    let write_error = redis::cmd("BLPOP").arg("queue").arg(1).query::<()>(&mut replica).unwrap_err();
    assert_eq!(write_error.kind(), redis::ErrorKind::ReadOnly, "{write_error}");

    // Killed: writes made meanwhile arrive once it is back (same folder, new port).
    ams.kill();
    let _: () = redis::cmd("SET").arg("while-away").arg("1").query(&mut primary).unwrap();
    let _: () = redis::cmd("HDEL").arg("h").arg("f1").query(&mut primary).unwrap();
    ams.restart();
    let endpoint = wait_replica_ready(&cp, "rr", "ams");
    assert_eq!(endpoint, ams.addr);
    let mut replica = connect(&endpoint, &pw).unwrap();
    let got: Option<String> = wait_for(10, "the write made while the replica was away", || {
        redis::cmd("GET").arg("while-away").query::<Option<String>>(&mut replica).ok().flatten().map(Some)
    });
    assert_eq!(got.as_deref(), Some("1"));
    let hash: Vec<String> = redis::cmd("HGETALL").arg("h").query(&mut replica).unwrap();
    assert_eq!(hash, ["f2", "b"]);
    assert_eq!(read_keys(&endpoint, &pw), Ok(expected_keys()));

    // The read region removed: the replica's copy goes, the primary keeps serving.
    let (ok, _, err) = cp.tern(&["redis", "update", "rr", "--remove-read-regions", "ams"]);
    assert!(ok, "{err}");
    wait_for(10, "the replica's password refused", || refused(&ams.addr, &pw).then_some(()));
    wait_for(10, "the replica's files deleted", || (!ams.database_dir(&id(&db)).exists()).then_some(()));
    assert_keys_served(&mad.addr, &pw);

    // Added back: a full copy; then destroyed: gone everywhere.
    let (ok, _, err) = cp.tern(&["redis", "update", "rr", "--add-read-regions", "ams"]);
    assert!(ok, "{err}");
    assert_keys_served(&wait_replica_ready(&cp, "rr", "ams"), &pw);
    let (ok, _, err) = cp.tern(&["redis", "destroy", "rr", "-y"]);
    assert!(ok, "{err}");
    for node in [&mad, &ams] {
        wait_for(10, "the destroyed database refused", || refused(&node.addr, &pw).then_some(()));
        wait_for(10, "its files deleted", || (!node.database_dir(&id(&db)).exists()).then_some(()));
    }
}

/// With the control plane down the nodes keep serving, and a node restarted meanwhile serves
/// what it hosted from its folder; once the control plane is back, intent converges and
/// create and destroy work again.
#[test]
fn nodes_serve_without_the_control_plane() {
    let dir = TempDir::new("cp-down");
    let mut cp = ControlPlane::start(&dir.0);
    let mut mad = NodeProcess::start(&dir.0, "mad", &cp);
    let db = create(&cp, "kept", "mad", &[]);
    let pw = password(&db);
    write_keys(&mad.addr, &pw);

    cp.kill();
    // Several reconcile rounds fail meanwhile; the database is served throughout.
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        assert_eq!(
            read_keys(&mad.addr, &pw).as_ref().ok(),
            Some(&expected_keys()),
            "not served while the control plane is down"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    mad.restart();
    assert_keys_served(&mad.addr, &pw);

    cp.restart();
    wait_ready(&cp, "kept", "mad", &mad.addr);
    let fresh = create(&cp, "fresh", "mad", &[]);
    write_keys(&mad.addr, &password(&fresh));
    let (ok, _, err) = cp.tern(&["redis", "destroy", "kept", "-y"]);
    assert!(ok, "{err}");
    wait_for(10, "the destroyed database's password refused", || refused(&mad.addr, &pw).then_some(()));
    wait_for(10, "the destroyed database's files deleted", || (!mad.database_dir(&id(&db)).exists()).then_some(()));
    assert_keys_served(&mad.addr, &password(&fresh));
}

/// A database destroyed while its node is down is deleted there when the node comes back,
/// and stays deleted across further restarts of the node and of the control plane.
#[test]
fn a_database_destroyed_while_its_node_is_down_never_reappears() {
    let dir = TempDir::new("destroy-down");
    let mut cp = ControlPlane::start(&dir.0);
    let mut mad = NodeProcess::start(&dir.0, "mad", &cp);
    let gone = create(&cp, "gone", "mad", &[]);
    let kept = create(&cp, "kept", "mad", &[]);
    let (gone_pw, kept_pw) = (password(&gone), password(&kept));
    write_keys(&mad.addr, &gone_pw);
    write_keys(&mad.addr, &kept_pw);
    let gone_dir = mad.database_dir(&id(&gone));
    assert!(gone_dir.exists(), "no folder {} for the database", gone_dir.display());

    mad.kill();
    let (ok, _, err) = cp.tern(&["redis", "destroy", "gone", "-y"]);
    assert!(ok, "destroy while the node is down: {err}");

    let check_gone = |cp: &ControlPlane, mad: &NodeProcess, when: &str| {
        // Once the other database is served again, the node has applied an intent.
        assert_keys_served(&mad.addr, &kept_pw);
        wait_for(10, &format!("the destroyed database's files deleted ({when})"), || {
            (!gone_dir.exists()).then_some(())
        });
        assert!(refused(&mad.addr, &gone_pw), "the destroyed database's password works ({when})");
        assert!(cp.status("gone").is_none(), "the destroyed database is listed again ({when})");
    };
    mad.restart();
    check_gone(&cp, &mad, "node restarted");
    mad.restart();
    check_gone(&cp, &mad, "node restarted twice");
    cp.restart();
    wait_ready(&cp, "kept", "mad", &mad.addr);
    check_gone(&cp, &mad, "control plane restarted");
    mad.restart();
    wait_ready(&cp, "kept", "mad", &mad.addr);
    check_gone(&cp, &mad, "both restarted");
}

/// A password reset while the node is down: when the node is back, the new password works
/// and the old one is refused.
#[test]
fn a_password_reset_while_the_node_is_down_holds_when_it_returns() {
    let dir = TempDir::new("reset-down");
    let cp = ControlPlane::start(&dir.0);
    let mut mad = NodeProcess::start(&dir.0, "mad", &cp);
    let db = create(&cp, "pw", "mad", &[]);
    let old = password(&db);
    write_keys(&mad.addr, &old);

    mad.kill();
    let reset = cp.json(&["redis", "reset", "pw"]);
    let new = password(&reset);
    assert_ne!(new, old);

    mad.restart();
    assert_keys_served(&mad.addr, &new);
    assert!(refused(&mad.addr, &old), "the old password still works after the reset");
    wait_ready(&cp, "pw", "mad", &mad.addr);
}

/// Live nodes of `code` as `tern regions --json` shows them.
fn live_nodes(cp: &ControlPlane, code: &str) -> i64 {
    let regions = cp.json(&["regions"]);
    let region = regions.as_array().unwrap().iter().find(|r| r["code"] == code).expect("a seeded region");
    region["nodes"].as_i64().expect("a node count")
}

/// Only a region with a live node takes a database: `tern regions` says which, lists them
/// first, and `create` elsewhere fails naming them; a node that stops counts no more.
#[test]
fn only_regions_with_a_live_node_take_databases() {
    let dir = TempDir::new("live-regions");
    let cp = ControlPlane::start(&dir.0);
    let mut mad = NodeProcess::start(&dir.0, "mad", &cp);
    wait_for(10, "mad counted as live", || (live_nodes(&cp, "mad") == 1).then_some(()));
    assert_eq!(live_nodes(&cp, "cdg"), 0);
    let (ok, out, err) = cp.tern(&["regions"]);
    assert!(ok, "{err}");
    let first_row = out.lines().nth(1).unwrap_or_default();
    assert!(first_row.starts_with("mad ") && first_row.contains(" 1 "), "{out}");

    let (ok, _, err) = cp.tern(&["redis", "create", "--name", "x", "--region", "cdg"]);
    assert!(!ok && err.contains("no node serves region cdg yet; regions with nodes: mad"), "{err}");
    create(&cp, "x", "mad", &[]);

    mad.kill();
    wait_for(10, "mad no longer live", || (live_nodes(&cp, "mad") == 0).then_some(()));
    let (ok, _, err) = cp.tern(&["redis", "create", "--name", "y", "--region", "mad"]);
    assert!(!ok && err.contains("no node serves region mad yet; regions with nodes: none"), "{err}");
}

/// What `tern regions --json` shows a region's nodes holding back.
fn held_back(cp: &ControlPlane, code: &str) -> Value {
    let regions = cp.json(&["regions"]);
    let region = regions.as_array().unwrap().iter().find(|r| r["code"] == code).expect("a seeded region");
    region["held_back"].clone()
}

/// A control plane restarted on a new, empty state deletes nothing: the node keeps its
/// database (across its own restarts too), adds the new state's, and says so; restarted with
/// `--adopt-control-plane` it accepts the new state and deletes what that does not list.
#[test]
fn a_control_plane_on_an_empty_state_deletes_nothing_until_adopted() {
    let dir = TempDir::new("empty-state");
    let mut cp = ControlPlane::start(&dir.0);
    let mut mad = NodeProcess::start(&dir.0, "mad", &cp);
    let old = create(&cp, "old", "mad", &[]);
    let old_pw = password(&old);
    write_keys(&mad.addr, &old_pw);
    let served = wait_for(10, "the served deployment kept on disk", || mad.served_deployment());

    cp.restart_on_new_state("control-plane-new");
    assert!(cp.status("old").is_none(), "the new state knows the old database");
    let held = wait_for(15, "the node reported holding back", || {
        let held = held_back(&cp, "mad");
        (!held.is_null()).then_some(held)
    });
    assert_eq!(held[0]["served_deployment"], json!(served), "{held}");
    assert_eq!(held[0]["kept_tenants"], json!([id(&old)]), "{held}");
    // The new state's databases are added meanwhile.
    let new = create(&cp, "new", "mad", &[]);
    write_keys(&mad.addr, &password(&new));
    // Several reconcile rounds with the empty intent: nothing is deleted.
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        assert_eq!(read_keys(&mad.addr, &old_pw).as_ref().ok(), Some(&expected_keys()), "the old database went");
        std::thread::sleep(Duration::from_millis(250));
    }
    // A restart without the flag keeps holding back, and serves the old database from disk.
    mad.restart();
    assert_keys_served(&mad.addr, &old_pw);
    assert_keys_served(&mad.addr, &password(&new));
    assert_eq!(mad.served_deployment(), Some(served.clone()));

    mad.restart_with(&["--adopt-control-plane"]);
    assert_keys_served(&mad.addr, &password(&new));
    wait_for(10, "the old database's files deleted", || (!mad.database_dir(&id(&old)).exists()).then_some(()));
    assert!(refused(&mad.addr, &old_pw), "the old database is still served after adopting");
    let adopted = mad.served_deployment().expect("a served deployment");
    assert_ne!(adopted, served);
    wait_for(15, "the node no longer reported holding back", || held_back(&cp, "mad").is_null().then_some(()));
}
