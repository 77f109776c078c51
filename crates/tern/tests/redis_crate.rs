//! The `redis` crate (redis-rs) against a real `tern node` process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Node {
    child: Child,
    addr: String,
    _dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node() -> Node {
    let dir = std::env::temp_dir().join(format!("tern-it-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready");
    let child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args([
            "node",
            "--redis-addr",
            "127.0.0.1:0",
            "--tenant",
            "a:secret-a",
            "--tenant",
            "b:secret-b",
            "--ready-file",
        ])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tern binary starts");
    // From here on, dropping `node` kills and reaps the process, even if this test panics.
    let mut node = Node { child, addr: String::new(), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(addr) = std::fs::read_to_string(&ready) {
            if !addr.is_empty() {
                node.addr = addr;
                return node;
            }
        }
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos() as u64).unwrap_or(0)
}

#[test]
fn strings_pipelines_and_transactions() {
    let node = start_node();
    let client = redis::Client::open(format!("redis://default:secret-a@{}/", node.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("greeting").arg("hello").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("greeting").query(&mut con).unwrap();
    assert_eq!(v, "hello");
    let (a, b): (i64, i64) =
        redis::pipe().atomic().cmd("INCR").arg("n").cmd("INCRBY").arg("n").arg(5).query(&mut con).unwrap();
    assert_eq!((a, b), (1, 6));
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.cmd("DBSIZE");
    let (size,): (i64,) = pipe.query(&mut con).unwrap();
    assert_eq!(size, 1002);
}

#[test]
fn tenants_do_not_see_each_other_and_bad_password_is_refused() {
    let node = start_node();
    let a = redis::Client::open(format!("redis://default:secret-a@{}/", node.addr)).unwrap();
    let b = redis::Client::open(format!("redis://default:secret-b@{}/", node.addr)).unwrap();
    let mut ca = a.get_connection().unwrap();
    let mut cb = b.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("only-in-a").arg(1).query(&mut ca).unwrap();
    let seen: Option<i64> = redis::cmd("GET").arg("only-in-a").query(&mut cb).unwrap();
    assert_eq!(seen, None);
    let bad = redis::Client::open(format!("redis://default:wrong@{}/", node.addr)).unwrap();
    let err = bad.get_connection().err().expect("wrong password is refused");
    assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");
    let err = redis::Client::open(format!("redis://default:secret-a@{}/3", node.addr))
        .unwrap()
        .get_connection()
        .err()
        .unwrap();
    assert!(err.to_string().contains("Only 0th database is supported"), "{err}");
}

#[test]
fn resp3_connection() {
    let node = start_node();
    let client = redis::Client::open(format!("redis://default:secret-a@{}/?protocol=resp3", node.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("x").arg("1").query(&mut con).unwrap();
    let v: redis::Value = redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query(&mut con).unwrap();
    assert!(matches!(v, redis::Value::Map(_)), "{v:?}");
}
