//! `tern kafka …` against a real `tern dev`, with kcat as the client: create and use a cluster
//! (SCRAM-SHA-256 and PLAIN), topics, credentials (produce-only, prefix scope, revoke), destroy
//! (data gone from the node's folder), and `tern dev`'s own cluster across a restart.

mod common;

use common::{start_dev, start_tern, Dev};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a change made through the control plane may take to reach the node (it polls
/// every second).
const PROPAGATION: Duration = Duration::from_secs(10);

struct Sasl<'a> {
    endpoint: &'a str,
    username: &'a str,
    password: &'a str,
    mechanism: &'a str,
}

impl Sasl<'_> {
    fn kcat(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kcat");
        cmd.args(["-b", self.endpoint, "-X", "security.protocol=SASL_PLAINTEXT"])
            .arg("-X")
            .arg(format!("sasl.mechanisms={}", self.mechanism))
            .arg("-X")
            .arg(format!("sasl.username={}", self.username))
            .arg("-X")
            .arg(format!("sasl.password={}", self.password))
            .args(["-m", "10"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Produces one record per line; `true` when kcat delivered them all.
    fn produce(&self, topic: &str, lines: &[&str]) -> bool {
        let mut child = self
            .kcat(&["-P", "-t", topic])
            .stdin(Stdio::piped())
            .spawn()
            .expect("kcat is installed (apt-get install kcat)");
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        out.status.success()
    }

    /// Every record of the topic from the beginning, or `None` when kcat failed.
    fn consume(&self, topic: &str) -> Option<Vec<String>> {
        let out = self.kcat(&["-C", "-t", topic, "-o", "beginning", "-e", "-q"]).output().expect("kcat runs");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect())
    }

    /// Whether the credential authenticates (a metadata request).
    fn authenticates(&self) -> bool {
        self.kcat(&["-L"]).output().expect("kcat runs").status.success()
    }
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PROPAGATION;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn json_ok(dev: &Dev, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (ok, out, err) = dev.tern(&args);
    assert!(ok, "tern {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("tern {args:?} printed no JSON ({e}): {out}"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn kafka_cluster_topics_and_credentials_through_the_cli() {
    let dir = temp_dir("kafka-cli-test");
    let dev = start_dev(&dir, &["--kafka-addr", "127.0.0.1:0"]);

    // Create: the text output carries the three export lines, and they work with kcat.
    let (ok, out, err) = dev.tern(&["kafka", "create", "--name", "shop", "--region", "mad"]);
    assert!(ok, "create failed: {err}");
    assert!(out.contains("is ready"), "{out}");
    let export = |name: &str| {
        let prefix = format!("export {name}=");
        out.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {prefix} in {out}")).to_string()
    };
    let (endpoint, username, password) = (export("TCP_ENDPOINT"), export("KAFKA_USERNAME"), export("KAFKA_PASSWORD"));
    assert!(out.contains(&format!("Bootstrap endpoint: {endpoint}")), "{out}");
    let scram = Sasl { endpoint: &endpoint, username: &username, password: &password, mechanism: "SCRAM-SHA-256" };
    let plain = Sasl { mechanism: "PLAIN", ..scram };
    assert!(scram.produce("events", &["one", "two", "three"]));
    assert_eq!(plain.consume("events").unwrap(), ["one", "two", "three"]);

    // list and status.
    let (ok, out, _) = dev.tern(&["kafka", "list"]);
    assert!(ok && out.starts_with("Name") && out.contains("Replica Regions"), "{out}");
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["shop", "personal", "mad", "None"]),
        "{out}"
    );
    // Usage shows as "none reported yet" or, once the node reported (every 2 s under
    // `tern dev`, so either may come first), as today's counts.
    let (ok, out, _) = dev.tern(&["ext", "kafka", "status", "shop"]);
    let usage_shown = out.contains("Usage") || out.contains("Messages Today");
    assert!(ok && out.contains("ready") && out.contains(&endpoint) && usage_shown, "{out}");

    // Topics: create with settings, list, describe, delete.
    let created = json_ok(
        &dev,
        &[
            "kafka",
            "topics",
            "create",
            "shop",
            "orders",
            "--partitions",
            "3",
            "--retention-ms",
            "3600000",
            "--cleanup-policy",
            "compact",
        ],
    );
    assert_eq!(created["topic"]["partitions"], 3, "{created}");
    let setting = |v: &Value, name: &str| {
        v["settings"].as_array().and_then(|s| s.iter().find(|c| c["name"] == name).map(|c| c["value"].clone()))
    };
    assert_eq!(setting(&created, "retention.ms"), Some(Value::from("3600000")), "{created}");
    assert_eq!(setting(&created, "cleanup.policy"), Some(Value::from("compact")), "{created}");
    let (ok, _, err) = dev.tern(&["kafka", "topics", "create", "shop", "orders"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = dev.tern(&["kafka", "topics", "create", "shop", "bad", "--cleanup-policy", "sometimes"]);
    assert!(!ok && err.contains("cleanup-policy"), "{err}");
    let topics = json_ok(&dev, &["kafka", "topics", "list", "shop"]);
    let names: Vec<&str> = topics.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["events", "orders"]);
    let described = json_ok(&dev, &["kafka", "topics", "describe", "shop", "orders"]);
    assert_eq!(described["topic"]["partitions"], 3);
    assert_eq!(described["topic"]["topic_id"], created["topic"]["topic_id"]);
    if !described["settings"].is_null() {
        // Brokers that serve DescribeConfigs show what was set.
        assert_eq!(setting(&described, "retention.ms"), Some(Value::from("3600000")), "{described}");
    }
    let (ok, _, err) = dev.tern(&["kafka", "topics", "delete", "shop", "orders"]);
    assert!(ok, "{err}");
    let topics = json_ok(&dev, &["kafka", "topics", "list", "shop"]);
    assert_eq!(topics.as_array().unwrap().len(), 1, "{topics}");
    let (ok, _, err) = dev.tern(&["kafka", "topics", "describe", "shop", "orders"]);
    assert!(!ok && err.contains("orders"), "{err}");

    // A produce-only credential scoped to a prefix: produces there, nowhere else, never reads.
    let p = json_ok(&dev, &["kafka", "credentials", "create", "shop", "--access", "produce", "--prefix", "orders."]);
    let producer =
        Sasl { username: p["username"].as_str().unwrap(), password: p["password"].as_str().unwrap(), ..scram };
    wait_until("the new credential works", || producer.authenticates());
    assert!(producer.produce("orders.eu", &["o1"]));
    assert!(!producer.produce("events", &["nope"]), "outside its prefix");
    assert!(producer.consume("orders.eu").is_none(), "a produce-only credential consumed");
    assert_eq!(plain.consume("orders.eu").unwrap(), ["o1"]);
    assert_eq!(plain.consume("events").unwrap(), ["one", "two", "three"]);
    let list = json_ok(&dev, &["kafka", "credentials", "list", "shop"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let (ok, out, _) = dev.tern(&["kafka", "credentials", "list", "shop"]);
    assert!(ok && out.contains("produce only") && out.contains("prefix orders."), "{out}");

    // A consume-only credential on one topic reads it; revoked while its consumer is
    // connected, the open connection is closed (kcat then gives up: its login fails).
    let c = json_ok(&dev, &["kafka", "credentials", "create", "shop", "--access", "consume", "--topic", "events"]);
    let consumer =
        Sasl { username: c["username"].as_str().unwrap(), password: c["password"].as_str().unwrap(), ..plain };
    wait_until("the consumer credential works", || consumer.authenticates());
    assert!(!consumer.produce("events", &["nope"]), "a consume-only credential produced");
    let mut follower = consumer.kcat(&["-C", "-t", "events", "-o", "beginning"]).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(follower.try_wait().unwrap().is_none(), "the consumer should still be following the topic");
    let (ok, _, err) = dev.tern(&["kafka", "credentials", "revoke", "shop", consumer.username]);
    assert!(ok, "{err}");
    wait_until("the revoked consumer's connection is closed", || follower.try_wait().unwrap().is_some());
    let out = follower.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["one", "two", "three"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Authentication failed"), "{out:?}");

    // Revoke: refused within the reconcile period.
    let (ok, out, err) = dev.tern(&["kafka", "credentials", "revoke", "shop", producer.username]);
    assert!(ok && out.contains("Revoked"), "{out}{err}");
    wait_until("the revoked credential is refused", || !producer.authenticates());
    assert!(!producer.produce("orders.eu", &["late"]));
    let (ok, _, err) = dev.tern(&["kafka", "credentials", "revoke", "shop", producer.username]);
    assert!(!ok && err.contains("not found"), "{err}");

    // Destroy: confirmation required without a terminal, then the data leaves the node.
    let id = json_ok(&dev, &["kafka", "status", "shop"])["id"].as_str().unwrap().to_string();
    let cluster_dir = dir.join("kafka").join("mad").join(&id);
    assert!(cluster_dir.exists(), "{} should hold the cluster's data", cluster_dir.display());
    let (ok, _, err) = dev.tern(&["kafka", "destroy", "shop"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, _, err) = dev.tern(&["kafka", "destroy", "shop", "-y"]);
    assert!(ok, "{err}");
    wait_until("the cluster's folder is removed", || !cluster_dir.exists());
    wait_until("the destroyed cluster's credential is refused", || !plain.authenticates());
    let (ok, _, err) = dev.tern(&["kafka", "status", "shop"]);
    assert!(!ok && err.contains("not found"), "{err}");
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kafka_create_validation_and_dashboard() {
    let dir = temp_dir("kafka-cli-validation");
    let dev = start_dev(&dir, &["--kafka-addr", "127.0.0.1:0"]);
    let (ok, _, err) = dev.tern(&["kafka", "create", "--name", "x"]);
    assert!(!ok && err.contains("--region"), "{err}");
    let (ok, _, err) = dev.tern(&["kafka", "create", "--region", "nowhere"]);
    assert!(!ok && err.contains("unknown region"), "{err}");
    let (ok, _, err) = dev.tern(&["kafka", "create", "--region", "mad", "--org", "someone-else"]);
    assert!(!ok && err.contains("someone-else"), "{err}");
    let c = json_ok(&dev, &["kafka", "create", "--region", "mad", "--replica-regions", "ams"]);
    let name = c["name"].as_str().unwrap();
    assert_eq!(name.split('-').count(), 3, "a generated name: {name}");
    assert!(c["regions"][1]["status"].as_str().unwrap().contains("not built"), "{c}");
    let up =
        json_ok(&dev, &["kafka", "update", name, "--add-replica-regions", "iad", "--remove-replica-regions", "ams"]);
    assert_eq!(up["replica_regions"], serde_json::json!(["iad"]));
    let (ok, _, err) = dev.tern(&["kafka", "update", name, "--region", "ams"]);
    assert!(!ok && err.contains("cannot be changed"), "{err}");
    let (ok, _, err) = dev.tern(&["kafka", "update", name]);
    assert!(!ok && err.contains("nothing to update"), "{err}");
    let (ok, _, err) = dev.tern(&["kafka", "credentials", "create", name, "--topic", "a", "--prefix", "b"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, out, _) = dev.tern(&["kafka", "dashboard", name]);
    assert!(ok && out.trim().starts_with("http") && out.trim().ends_with(&format!("/kafka/{name}")), "{out}");
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dev_serves_a_kafka_cluster_that_keeps_its_records() {
    let dir = temp_dir("kafka-dev-test");
    // A busy first port falls back to a free one.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let dev = start_dev(&dir, &["--kafka-addr", &busy_addr]);
    let (endpoint, username, password) =
        (dev.export("TCP_ENDPOINT"), dev.export("KAFKA_USERNAME"), dev.export("KAFKA_PASSWORD"));
    assert_ne!(endpoint, busy_addr);
    let scram = Sasl { endpoint: &endpoint, username: &username, password: &password, mechanism: "SCRAM-SHA-256" };
    assert!(scram.produce("kept", &["before-restart"]));
    drop(dev);

    let dev = start_dev(&dir, &["--kafka-addr", &busy_addr]);
    assert_eq!(dev.export("KAFKA_USERNAME"), username, "the dev cluster and its credential are kept");
    assert_eq!(dev.export("KAFKA_PASSWORD"), password);
    let endpoint = dev.export("TCP_ENDPOINT");
    let plain = Sasl { endpoint: &endpoint, username: &username, password: &password, mechanism: "PLAIN" };
    assert_eq!(plain.consume("kept").unwrap(), ["before-restart"]);
    drop(dev);
    drop(busy);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_node_with_a_control_plane_serves_its_kafka_clusters() {
    let dir = temp_dir("kafka-node-test");
    let cp_dir = dir.join("cp").to_string_lossy().to_string();
    let cp = start_tern(&["control-plane", "--data-dir", &cp_dir, "--listen", "127.0.0.1:0"], "export TERN_API_TOKEN=");
    let secret = std::fs::read_to_string(dir.join("cp").join("cluster-secret")).unwrap();
    let node_dir = dir.join("node").to_string_lossy().to_string();
    let api_url = cp.export("TERN_API_URL");
    let ready_file = dir.join("node-ready");
    let ready = ready_file.to_string_lossy().to_string();
    let _node = start_tern(
        &[
            "node",
            "--region",
            "ams",
            "--redis-addr",
            "127.0.0.1:0",
            "--kafka-addr",
            "127.0.0.1:0",
            "--data-dir",
            &node_dir,
            "--control-plane",
            &api_url,
            "--cluster-secret",
            secret.trim(),
            "--ready-file",
            &ready,
        ],
        "",
    );
    wait_until("the node is listening", || ready_file.exists());
    let c = json_ok(&cp, &["kafka", "create", "--name", "remote", "--region", "ams"]);
    assert_eq!(c["status"], "ready", "{c}");
    let endpoint = c["endpoint"].as_str().unwrap();
    let credential = &c["credentials"][0];
    let sasl = Sasl {
        endpoint,
        username: credential["username"].as_str().unwrap(),
        password: credential["password"].as_str().unwrap(),
        mechanism: "SCRAM-SHA-512",
    };
    assert!(sasl.produce("t", &["via-node"]));
    assert_eq!(sasl.consume("t").unwrap(), ["via-node"]);
    let id = c["id"].as_str().unwrap();
    assert!(dir.join("node").join("kafka").join(id).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
