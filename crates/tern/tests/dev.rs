//! `tern dev`: prints a working connection string on a line of its own, and keeps the
//! database password across runs in its data directory.

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

/// Starts `tern dev` and returns it with the first `redis://` line it prints.
fn start_dev(data_dir: &std::path::Path) -> (Dev, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["dev", "--redis-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tern dev starts");
    let mut dev = Dev(child);
    let stdout = dev.0.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("redis://") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = rx.recv_timeout(deadline - Instant::now()).expect("tern dev printed a redis:// line");
    (dev, url)
}

#[test]
fn dev_prints_a_working_url_that_survives_restarts() {
    let dir = std::env::temp_dir().join(format!("tern-dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (dev, url) = start_dev(&dir);
    assert!(url.starts_with("redis://default:"), "{url}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    drop(con);
    drop(dev);
    let (_dev2, url2) = start_dev(&dir);
    let password = |u: &str| u.split('@').next().unwrap_or_default().to_string();
    assert_eq!(password(&url), password(&url2), "the password is kept across runs");
    let _ = std::fs::remove_dir_all(&dir);
}
