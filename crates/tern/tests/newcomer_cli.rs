//! The CLI as a newcomer meets it, against a real `tern dev`: `tern redis create` answered
//! prompt by prompt on a pseudo-terminal, errors naming the flag without one, `tern login` /
//! `logout` with the per-user config file, and `tern redis connect`/`proxy` with redis-cli,
//! with the built-in prompt (stdin and a pseudo-terminal) and with a Redis client.

mod common;

use common::{start_dev, start_tern, Dev};
use rexpect::process::wait::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";

fn tern_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tern"));
    cmd.args(args).env_remove("TERN_API_URL").env_remove("TERN_API_TOKEN").env("TERM", "xterm-256color");
    cmd
}

/// `tern ARGS` pointed at `dev` through the environment.
fn with_dev_env(dev: &Dev, args: &[&str]) -> Command {
    let mut cmd = tern_command(args);
    cmd.env("TERN_API_URL", dev.export("TERN_API_URL")).env("TERN_API_TOKEN", dev.export("TERN_API_TOKEN"));
    cmd
}

/// Runs a command without a terminal (stdin empty); returns success, stdout, stderr.
fn run(mut cmd: Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("tern runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Runs a command with `input` on stdin (not a terminal).
fn run_with_input(mut cmd: Command, input: &str) -> (bool, String, String) {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("tern runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn json(dev: &Dev, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (ok, out, err) = dev.tern(&args);
    assert!(ok, "tern {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("tern {args:?} printed no JSON ({e}): {out}"))
}

fn on_pty(cmd: Command) -> PtySession {
    let options = Options { timeout_ms: Some(20_000), strip_ansi_escape_codes: true };
    spawn_with_options(cmd, options).expect("a pseudo-terminal")
}

/// Types `keys` one at a time, as a person would.
fn press(p: &mut PtySession, keys: &[&str]) {
    for key in keys {
        p.send(key).unwrap();
        p.flush().unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Arrow presses moving a selection from `from` to `to`.
fn moves(from: usize, to: usize) -> Vec<&'static str> {
    if to >= from {
        vec![DOWN; to - from]
    } else {
        vec![UP; from - to]
    }
}

fn codes(list: &Value, field: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v[field].as_str().unwrap().to_string()).collect()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn create_answering_every_prompt_on_a_terminal() {
    let dir = temp_dir("cli-pty");
    let dev = start_dev(&dir.join("data"), &["--kafka-addr", "127.0.0.1:0"]);
    // The pickers offer the regions with a live node (all of tern dev's serve Kafka too).
    let all_regions = json(&dev, &["regions"]);
    let live: Vec<Value> = all_regions.as_array().unwrap().iter().filter(|r| r["nodes"] != 0).cloned().collect();
    let regions = codes(&Value::Array(live), "code");
    assert_eq!(regions, ["ams", "iad", "mad"], "{all_regions}");
    let plans = codes(&json(&dev, &["redis", "plans"]), "name");
    let primary = "ams";
    let primary_at = regions.iter().position(|r| r == primary).expect("ams is a region");
    let others: Vec<&String> = regions.iter().filter(|r| *r != primary).collect();
    let replica_at = others.iter().position(|r| *r == "iad").expect("iad is a region");
    let payg_at = plans.iter().position(|p| p == "payg").expect("a payg plan");
    let plan_at = (payg_at + 1) % plans.len();
    assert_ne!(plan_at, payg_at, "the test needs two plans");

    let mut p = on_pty(with_dev_env(&dev, &["redis", "create"]));
    p.exp_string("Name").unwrap();
    press(&mut p, &["pty-db", "\r"]);
    p.exp_string("Primary region (can't be changed later)").unwrap();
    let mut keys = moves(0, primary_at);
    keys.push("\r");
    press(&mut p, &keys);
    p.exp_string("Enable eviction?").unwrap();
    press(&mut p, &["y"]);
    p.exp_string("Plan").unwrap();
    let mut keys = moves(payg_at, plan_at);
    keys.push("\r");
    press(&mut p, &keys);
    p.exp_string("Replica regions (can be changed later").unwrap();
    let mut keys = moves(0, replica_at);
    keys.extend([" ", "\r"]);
    press(&mut p, &keys);
    p.exp_string("Connection string: redis://default:").unwrap();
    p.exp_eof().unwrap();

    let db = json(&dev, &["redis", "status", "pty-db"]);
    assert_eq!(db["primary_region"], primary, "{db}");
    assert_eq!(db["plan"], plans[plan_at].as_str(), "{db}");
    assert_eq!(db["eviction"], true, "{db}");
    assert_eq!(db["read_regions"], serde_json::json!(["iad"]), "{db}");

    // A blank name is generated; the prompts for the flags given are skipped.
    let mut p = on_pty(with_dev_env(&dev, &["redis", "create", "--region", "mad", "--plan", "payg", "--no-replicas"]));
    p.exp_string("Name").unwrap();
    press(&mut p, &["\r"]);
    p.exp_string("Enable eviction?").unwrap();
    press(&mut p, &["n"]);
    let out = p.exp_eof().unwrap();
    assert!(!out.contains("Primary region") && !out.contains("Replica regions"), "{out}");
    let list = json(&dev, &["redis", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");

    // Kafka asks org (one: skipped), name, primary region, replica regions.
    let mut p = on_pty(with_dev_env(&dev, &["kafka", "create"]));
    p.exp_string("Name").unwrap();
    press(&mut p, &["pty-events", "\r"]);
    p.exp_string("Primary region (can't be changed later)").unwrap();
    let mut keys = moves(0, primary_at);
    keys.push("\r");
    press(&mut p, &keys);
    p.exp_string("Replica regions (can be changed later").unwrap();
    press(&mut p, &["\r"]);
    p.exp_string("Bootstrap endpoint").unwrap();
    p.exp_eof().unwrap();
    let cluster = json(&dev, &["kafka", "status", "pty-events"]);
    assert_eq!(cluster["primary_region"], primary, "{cluster}");

    // Ctrl-C at a question ends the command (status 130, cursor shown again), creating nothing.
    let mut p = on_pty(with_dev_env(&dev, &["redis", "create"]));
    p.exp_string("Name").unwrap();
    press(&mut p, &["\x03"]);
    p.exp_eof().unwrap();
    let status = p.process.wait().unwrap();
    assert!(matches!(status, WaitStatus::Exited(_, 130)), "{status:?}");
    assert_eq!(json(&dev, &["redis", "list"]).as_array().unwrap().len(), 3);

    // destroy asks before it destroys.
    let mut p = on_pty(with_dev_env(&dev, &["redis", "destroy", "pty-db"]));
    p.exp_string("This cannot be undone").unwrap();
    press(&mut p, &["n"]);
    p.exp_eof().unwrap();
    json(&dev, &["redis", "status", "pty-db"]);
    let mut p = on_pty(with_dev_env(&dev, &["redis", "destroy", "pty-db"]));
    p.exp_string("This cannot be undone").unwrap();
    press(&mut p, &["y"]);
    p.exp_string("Destroyed pty-db").unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_terminal_missing_values_name_their_flag_at_once() {
    let dir = temp_dir("cli-notty");
    let dev = start_dev(&dir.join("data"), &["--kafka-addr", "127.0.0.1:0"]);
    for args in [&["redis", "create", "--name", "y"][..], &["kafka", "create", "--name", "y"]] {
        let started = Instant::now();
        let (ok, _, err) = run(with_dev_env(&dev, args));
        assert!(!ok && err.contains("missing --region"), "{args:?}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?} took {:?}", started.elapsed());
    }
    let (ok, _, err) = run(with_dev_env(&dev, &["redis", "destroy", "dev"]));
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, _, err) = run(with_dev_env(&dev, &["login", "--api-url", "http://127.0.0.1:1"]));
    assert!(!ok && err.contains("missing --token"), "{err}");

    // With one database, connect picks it; with two, it needs the name.
    let (ok, _, err) = run(with_dev_env(&dev, &["redis", "create", "--name", "second", "--region", "mad"]));
    assert!(ok, "{err}");
    let (ok, _, err) = run(with_dev_env(&dev, &["redis", "connect"]));
    assert!(!ok && err.contains("several databases") && err.contains("NAME"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn login_stores_the_token_for_later_commands_and_logout_forgets_it() {
    let dir = temp_dir("cli-login");
    let dev = start_dev(&dir.join("data"), &["--kafka-addr", "127.0.0.1:0"]);
    let (url, token) = (dev.export("TERN_API_URL"), dev.export("TERN_API_TOKEN"));
    let home = dir.join("home");
    let config_home = dir.join("config");
    let plain = |args: &[&str]| {
        let mut cmd = tern_command(args);
        cmd.env("HOME", &home).env("XDG_CONFIG_HOME", &config_home);
        cmd
    };
    let config_file = config_home.join("tern").join("config.toml");

    let (ok, _, err) = run(plain(&["redis", "list"]));
    assert!(!ok && err.contains("run `tern login` or set TERN_API_TOKEN"), "{err}");
    let (ok, _, err) = run(plain(&["login", "--api-url", &url, "--token", "tern_wrong"]));
    assert!(!ok && err.contains("401"), "{err}");
    assert!(!config_file.exists(), "a refused token must not be saved");

    let (ok, out, err) = run(plain(&["login", "--api-url", &url, "--token", &token]));
    assert!(ok && out.contains("Logged in"), "{out}{err}");
    let text = std::fs::read_to_string(&config_file).unwrap();
    assert!(text.contains(&token) && text.contains(&url), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "config file mode {mode:o}");
    }
    let (ok, out, err) = run(plain(&["redis", "list"]));
    assert!(ok && out.lines().any(|l| l.starts_with("dev ")), "{out}{err}");
    // A flag still wins over the stored token.
    let (ok, _, err) = run(plain(&["redis", "list", "--token", "tern_wrong"]));
    assert!(!ok && err.contains("tern login"), "{err}");

    let (ok, out, _) = run(plain(&["logout"]));
    assert!(ok && out.contains("Logged out"), "{out}");
    assert!(!config_file.exists());
    let (ok, _, err) = run(plain(&["redis", "list"]));
    assert!(!ok && err.contains("tern login"), "{err}");

    // On a terminal, login asks for the URL (default shown) and the token (not echoed).
    let mut p = on_pty(plain(&["login"]));
    p.exp_string("Control plane URL").unwrap();
    press(&mut p, &[&url, "\r"]);
    p.exp_string("API token").unwrap();
    press(&mut p, &[&token, "\r"]);
    let out = p.exp_eof().unwrap();
    assert!(out.contains("Logged in") && !out.contains(&token), "{out}");
    let (ok, out, err) = run(plain(&["orgs"]));
    assert!(ok && out.contains("personal"), "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The local port from `Proxying localhost:PORT to remote HOST:PORT`.
fn proxy_port(out: &str) -> u16 {
    let line = out.lines().find(|l| l.starts_with("Proxying localhost:")).unwrap_or_else(|| panic!("{out}"));
    let rest = line.strip_prefix("Proxying localhost:").unwrap();
    assert!(rest.contains(" to remote 127.0.0.1:"), "{line}");
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn connect_and_proxy_reach_the_database() {
    let dir = temp_dir("cli-connect");
    let dev = start_dev(&dir.join("data"), &["--kafka-addr", "127.0.0.1:0"]);

    // redis-cli through the proxy (stdin is not a terminal, so redis-cli prints raw replies).
    assert!(
        Command::new("redis-cli").arg("--version").output().is_ok(),
        "redis-cli is installed (apt-get install redis-tools)"
    );
    let (ok, out, err) =
        run_with_input(with_dev_env(&dev, &["redis", "connect", "--port", "0"]), "SET foo bar\nGET foo\n");
    assert!(ok, "{out}{err}");
    proxy_port(&out);
    let replies: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(replies, ["OK", "bar"], "{out}");

    // The built-in prompt (no redis-cli on PATH), fed on stdin.
    let empty_path = dir.join("empty-path");
    std::fs::create_dir_all(&empty_path).unwrap();
    let mut cmd = with_dev_env(&dev, &["redis", "connect", "dev", "--port", "0"]);
    cmd.env("PATH", &empty_path);
    let input = "GET foo\nSET \"my key\" 'a b'\nGET \"my key\"\nINCR n\nGET missing\nRPUSH l x \"y z\"\nLRANGE l 0 -1\nNOSUCH\nSET \"open\nquit\n";
    let (ok, out, err) = run_with_input(cmd, input);
    assert!(ok, "{out}{err}");
    let port = proxy_port(&out);
    let prompt = format!("127.0.0.1:{port}> ");
    let replies: Vec<&str> = out.split(prompt.as_str()).skip(1).collect();
    assert_eq!(
        replies,
        [
            "\"bar\"\n",
            "OK\n",
            "\"a b\"\n",
            "(integer) 1\n",
            "(nil)\n",
            "(integer) 2\n",
            "1) \"x\"\n2) \"y z\"\n",
            "(error) ERR unknown command 'NOSUCH', with args beginning with: \n",
            "Invalid argument(s)\n",
            "",
        ],
        "{out}"
    );

    // The built-in prompt on a terminal.
    let mut cmd = with_dev_env(&dev, &["redis", "connect", "--port", "0"]);
    cmd.env("PATH", &empty_path);
    let mut p = on_pty(cmd);
    p.exp_string("Proxying localhost:").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("SET foo baz").unwrap();
    p.exp_string("OK").unwrap();
    p.send_line("GET foo").unwrap();
    p.exp_string("\"baz\"").unwrap();
    p.send_line("quit").unwrap();
    p.exp_eof().unwrap();

    // proxy: a Redis client through the printed port with the printed password.
    let url = dev.export("TERN_API_URL");
    let token = dev.export("TERN_API_TOKEN");
    let proxy =
        start_tern(&["redis", "proxy", "dev", "--port", "0", "--api-url", &url, "--token", &token], "Press Ctrl-C");
    let all = proxy.lines.join("\n");
    let port = proxy_port(&all);
    let password = proxy.line("Password: ").strip_prefix("Password: ").unwrap().to_string();
    let client = redis::Client::open(format!("redis://default:{password}@127.0.0.1:{port}")).unwrap();
    let mut con = client.get_connection().unwrap();
    let v: String = redis::cmd("GET").arg("foo").query(&mut con).unwrap();
    assert_eq!(v, "baz");
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}
