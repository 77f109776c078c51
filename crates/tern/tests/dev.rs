//! `tern dev`: prints a working connection string on a line of its own and the console's URL,
//! and keeps the database password across runs in its data directory.

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
    console_urls_are_pages(&dev);
    drop(dev);
    let (_dev2, url2) = start_dev(&dir);
    let password = |u: &str| u.split('@').next().unwrap_or_default().to_string();
    assert_eq!(password(&url), password(&url2), "the password is kept across runs");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `Console:` line and `tern redis dashboard [NAME]` give URLs the control plane serves
/// the console's page at.
fn console_urls_are_pages(dev: &common::Dev) {
    let console = dev.line("Console: ").trim_start_matches("Console: ").to_string();
    assert_eq!(console, format!("{}/console", dev.export("TERN_API_URL")));
    let (ok, home, err) = dev.tern(&["redis", "dashboard"]);
    assert!(ok && home.trim() == console, "{home} {err}");
    let (ok, page, err) = dev.tern(&["redis", "dashboard", "dev"]);
    assert!(ok && page.trim() == format!("{console}/redis/dev"), "{page} {err}");
    let (ok, _, err) = dev.tern(&["redis", "dashboard", "no-such-db"]);
    assert!(!ok && err.contains("not found"), "{err}");
    for url in [home.trim(), page.trim()] {
        let resp = ureq::get(url).call().unwrap();
        assert!(resp.content_type().starts_with("text/html"), "{url}");
        assert!(resp.into_string().unwrap().contains("/console/app.js"), "{url}");
    }
}
