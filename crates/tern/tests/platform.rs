//! The newcomer path end to end: `tern dev`, then the CLI creates a database, a Redis client
//! uses it, the CLI destroys it, and its password stops working on the node.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tern dev` on free ports; returns it with TERN_API_URL and TERN_API_TOKEN.
fn start_dev(data_dir: &std::path::Path) -> (Dev, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["dev", "--redis-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tern dev starts");
    let mut dev = Dev(child);
    let stdout = dev.0.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut url, mut token) = (None, None);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(v) = line.strip_prefix("export TERN_API_URL=") {
                url = Some(v.to_string());
            }
            if let Some(v) = line.strip_prefix("export TERN_API_TOKEN=") {
                token = Some(v.to_string());
            }
            if line.starts_with("redis://") {
                let _ = tx.send((url.take(), token.take()));
            }
        }
    });
    let (url, token) = rx.recv_timeout(Duration::from_secs(60)).expect("tern dev printed its export lines");
    (dev, url.expect("TERN_API_URL line"), token.expect("TERN_API_TOKEN line"))
}

fn tern(url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .env("TERN_API_URL", url)
        .env("TERN_API_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .expect("tern runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn can_auth(addr: &str, password: &str) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://default:{password}@{addr}")) else { return false };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return false };
    redis::cmd("PING").query::<String>(&mut con).is_ok()
}

#[test]
fn create_use_destroy_through_the_cli() {
    let dir = std::env::temp_dir().join(format!("tern-platform-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (_dev, api, token) = start_dev(&dir);

    let (ok, out, err) = tern(&api, &token, &["redis", "create", "--name", "x", "--region", "mad", "--json"]);
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
    let (ok, out, _) = tern(&api, &token, &["redis", "list"]);
    assert!(ok && out.lines().any(|l| l.starts_with("x ")), "{out}");
    let (ok, _, err) = tern(&api, &token, &["redis", "destroy", "x"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, _, err) = tern(&api, &token, &["redis", "create", "--name", "y"]);
    assert!(!ok && err.contains("--region"), "{err}");

    let (ok, _, err) = tern(&api, &token, &["redis", "destroy", "x", "-y"]);
    assert!(ok, "destroy failed: {err}");
    let rest = url.strip_prefix("redis://default:").unwrap();
    let (password, addr) = rest.split_once('@').unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while can_auth(addr, password) {
        assert!(Instant::now() < deadline, "the destroyed database's password still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, _, err) = tern(&api, &token, &["redis", "status", "x"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
