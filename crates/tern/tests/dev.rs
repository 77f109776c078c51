//! `tern dev`: prints a working connection string on a line of its own, and keeps the
//! database password across runs in its data directory.

mod common;

/// Starts `tern dev` and returns it with the `redis://` line it prints.
fn start_dev(data_dir: &std::path::Path) -> (common::Dev, String) {
    let dev = common::start_dev(data_dir, &["--kafka-addr", "127.0.0.1:0"]);
    let url = dev.line("redis://");
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
