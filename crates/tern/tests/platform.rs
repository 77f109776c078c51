//! The newcomer path end to end: `tern dev`, then the CLI creates a database, a Redis client
//! uses it, the CLI destroys it, and its password stops working on the node.

mod common;

use common::start_dev;
use std::time::{Duration, Instant};

fn can_auth(addr: &str, password: &str) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://default:{password}@{addr}")) else { return false };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return false };
    redis::cmd("PING").query::<String>(&mut con).is_ok()
}

#[test]
fn create_use_destroy_through_the_cli() {
    let dir = std::env::temp_dir().join(format!("tern-platform-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dev = start_dev(&dir, &["--kafka-addr", "127.0.0.1:0"]);
    let tern = |args: &[&str]| dev.tern(args);

    let (ok, out, err) = tern(&["redis", "create", "--name", "x", "--region", "mad", "--json"]);
    assert!(ok, "create failed: {err}");
    let db: serde_json::Value = serde_json::from_str(&out).expect("create --json prints JSON");
    assert_eq!(db["name"], "x");
    assert_eq!(db["primary_region"], "mad");
    assert_eq!(db["regions"][0]["status"], "ready", "{db}");
    let url = db["url"].as_str().expect("a connection string").to_string();

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("foo").arg("bar").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("foo").query(&mut con).unwrap();
    assert_eq!(v, "bar");
    drop(con);

    // list and status see it; a mistake says what to do.
    let (ok, out, _) = tern(&["redis", "list"]);
    assert!(ok && out.lines().any(|l| l.starts_with("x ")), "{out}");
    let (ok, _, err) = tern(&["redis", "destroy", "x"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, _, err) = tern(&["redis", "create", "--name", "y"]);
    assert!(!ok && err.contains("--region"), "{err}");

    let (ok, _, err) = tern(&["redis", "destroy", "x", "-y"]);
    assert!(ok, "destroy failed: {err}");
    let rest = url.strip_prefix("redis://default:").unwrap();
    let (password, addr) = rest.split_once('@').unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while can_auth(addr, password) {
        assert!(Instant::now() < deadline, "the destroyed database's password still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, _, err) = tern(&["redis", "status", "x"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
