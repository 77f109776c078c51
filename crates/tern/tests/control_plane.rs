//! `tern control-plane`: `--database-url` puts the state in that database instead of the
//! SQLite file under the data directory (which keeps the cluster secret); `openapi` prints the
//! API document.

mod common;

use common::{start_tern, tern};

#[test]
fn database_url_chooses_where_the_state_lives() {
    let dir = std::env::temp_dir().join(format!("tern-control-plane-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.join("data");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let state = elsewhere.join("state.db");
    let url = format!("sqlite://{}?mode=rwc", state.display());
    let data = data_dir.to_string_lossy().to_string();
    let args = ["control-plane", "--data-dir", &data, "--listen", "127.0.0.1:0", "--database-url", &url];
    let cp = start_tern(&args, "export TERN_API_TOKEN=");
    assert!(cp.line("Control plane listening").contains(&url), "{:#?}", cp.lines);
    assert!(state.exists(), "no state at {}", state.display());
    assert!(!data_dir.join("control-plane.db").exists(), "the state went to the data directory too");
    assert!(data_dir.join("cluster-secret").exists());
    let (ok, out, err) = tern(&cp.export("TERN_API_URL"), &cp.export("TERN_API_TOKEN"), &["orgs"]);
    assert!(ok && out.contains("personal"), "{out}{err}");
    drop(cp);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The command `docs/openapi.json` is regenerated with prints exactly the document the control
/// plane builds (the control plane's own test compares that with the checked-in file).
#[test]
fn openapi_prints_the_document() {
    let (ok, out, err) = tern("", "", &["control-plane", "openapi"]);
    assert!(ok, "{err}");
    assert_eq!(out, control_plane::openapi_json().unwrap());
}
