//! `tern dev` started by a test on free ports, its printed lines, and the CLI run against it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `tern dev` (or another long-running `tern` command); stopped (SIGKILL) when dropped.
pub struct Dev {
    child: Child,
    /// What it printed up to its last expected line.
    pub lines: Vec<String>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    /// The value of its `export NAME=VALUE` line.
    pub fn export(&self, name: &str) -> String {
        let prefix = format!("export {name}=");
        let line = self.lines.iter().find_map(|l| l.strip_prefix(&prefix));
        line.unwrap_or_else(|| panic!("no `{prefix}` line in {:#?}", self.lines)).to_string()
    }

    /// Its first line starting with `prefix`.
    pub fn line(&self, prefix: &str) -> String {
        let line = self.lines.iter().find(|l| l.starts_with(prefix));
        line.unwrap_or_else(|| panic!("no line starting with `{prefix}` in {:#?}", self.lines)).clone()
    }

    /// Runs the CLI with this platform's TERN_API_URL and TERN_API_TOKEN.
    pub fn tern(&self, args: &[&str]) -> (bool, String, String) {
        tern(&self.export("TERN_API_URL"), &self.export("TERN_API_TOKEN"), args)
    }
}

/// Starts `tern dev` (Redis and the API on free ports, plus `extra` flags) and waits until it
/// printed everything.
pub fn start_dev(data_dir: &std::path::Path, extra: &[&str]) -> Dev {
    let mut args = vec!["dev", "--redis-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--data-dir"];
    let dir = data_dir.to_string_lossy();
    args.push(&dir);
    args.extend_from_slice(extra);
    start_tern(&args, "Press Ctrl-C")
}

/// Starts `tern ARGS` and waits until it printed a line starting with `last` (`""`: does not
/// wait, for commands that print nothing).
pub fn start_tern(args: &[&str], last: &'static str) -> Dev {
    let child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tern starts");
    let mut dev = Dev { child, lines: Vec::new() };
    if last.is_empty() {
        return dev;
    }
    let stdout = dev.child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with(last);
            lines.push(line);
            if done {
                let _ = tx.send(std::mem::take(&mut lines));
            }
        }
    });
    dev.lines = rx.recv_timeout(Duration::from_secs(60)).expect("tern printed its lines");
    dev
}

pub fn tern(url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .env("TERN_API_URL", url)
        .env("TERN_API_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .expect("tern runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}
