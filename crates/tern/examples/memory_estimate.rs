//! Measures how close a database's `used_bytes` estimate is to what jemalloc really
//! allocated (the allocator of the `tern` binary, used here too). A benchmark, not a test:
//! `cargo run --release -p tern --example memory_estimate`; it exits with an error when an
//! estimate is off by more than 25%.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use keyspace::value::blob;
use keyspace::{Db, Value};

fn allocated() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().map(|v| v as u64).unwrap_or(0)
}

/// Loads a data set into a fresh database and prints estimate vs allocator delta.
fn compare(name: &str, load: impl FnOnce(&mut Db)) -> f64 {
    let before = allocated();
    let mut db = Db::new(0);
    load(&mut db);
    let estimate = db.used_bytes();
    let real = allocated().saturating_sub(before);
    let ratio = estimate as f64 / real as f64;
    println!("{name}: estimate {estimate} B, jemalloc {real} B, estimate/real {ratio:.3}");
    drop(db);
    ratio
}

fn main() -> std::process::ExitCode {
    let strings = compare("1M strings (key:N -> 10 bytes)", |db| {
        for i in 0..1_000_000 {
            db.insert(format!("key:{i}").as_bytes(), Value::Str(blob(b"0123456789")));
        }
    });
    let long_strings = compare("100K strings of 100 bytes, keys of 30 bytes", |db| {
        for i in 0..100_000 {
            db.insert(format!("a-longer-key-name:{i:012}").as_bytes(), Value::Str(blob(&[b'v'; 100])));
        }
    });
    let hashes = compare("10K hashes of 100 fields", |db| {
        for i in 0..10_000 {
            let key = format!("hash:{i}");
            let h = db.hash_mut(key.as_bytes(), true).unwrap().unwrap();
            for f in 0..100 {
                h.insert(blob(format!("field:{f}").as_bytes()), blob(format!("value:{f}").as_bytes()));
            }
            db.settle_memory();
        }
    });
    let zset = compare("1M-member zset", |db| {
        let z = db.zset_mut(b"z", true).unwrap().unwrap();
        for m in 0..1_000_000 {
            z.insert(format!("member:{m}").as_bytes(), m as f64);
        }
    });
    let ttl = compare("100K strings with a TTL", |db| {
        db.set_clock(1);
        for i in 0..100_000 {
            let k = format!("session:{i}");
            db.insert(k.as_bytes(), Value::Str(blob(b"v")));
            db.set_expire_at(k.as_bytes(), 1_000_000_000);
        }
    });
    let off: Vec<f64> =
        [strings, long_strings, hashes, zset, ttl].into_iter().filter(|r| !(0.75..1.25).contains(r)).collect();
    if off.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("estimate off by more than 25%: {off:?}");
        std::process::ExitCode::FAILURE
    }
}
