//! The node's usage meter: turns the databases' and Kafka clusters' running counters into
//! totals per (database or cluster, UTC hour), keeps them in `DATA_DIR/usage.json` across
//! restarts, and hands them to the reconciler to report.
//!
//! Why nothing is counted twice: the counters in the data plane only grow while the process
//! lives; each sample adds the difference since the previous sample to the current hour (a
//! counter that went down belongs to a database re-created since, so all of it is new). The
//! hourly totals are written to disk *before* each report, and a report carries the totals
//! themselves, which the control plane stores by replacing its row of (node, kind, id,
//! hour). A retried report, or one repeated after a restart, therefore replaces a row with
//! the same or a larger value, never adds to it. A crash loses at most what was counted since
//! the last write of the file (`PERSIST_EVERY`), never more than that.

use anyhow::Context;
use control_api::{UsageKind, UsageRecord, UsageReport};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the hourly totals are written to disk when they changed (and before a report).
const PERSIST_EVERY: Duration = Duration::from_secs(10);
/// Hours kept while the control plane cannot be reached; older ones are dropped (logged) so
/// the file and the memory stay bounded.
const MAX_PENDING_HOURS: i64 = 7 * 24;
const HOUR_S: i64 = 3600;

/// A database's or cluster's monotonic counters, in a fixed order.
type Counters = [u64; 4];

/// One reading of a database or cluster.
struct Reading {
    kind: UsageKind,
    id: String,
    counters: Counters,
    data_bytes: u64,
    connections: u64,
}

/// Where the counters of a record live, in `Counters` order, for each kind.
fn counter_fields(kind: UsageKind, r: &mut UsageRecord) -> [&mut u64; 4] {
    match kind {
        UsageKind::Redis => [&mut r.billable_commands, &mut r.free_commands, &mut r.bytes_in, &mut r.bytes_out],
        UsageKind::Kafka => {
            [&mut r.messages_produced, &mut r.messages_consumed, &mut r.bytes_produced, &mut r.bytes_consumed]
        }
    }
}

pub struct Meter {
    /// `usage.json`, or none for a node without a data directory (counts live in memory).
    path: Option<PathBuf>,
    /// Totals per (kind, id, hour start).
    hours: BTreeMap<(UsageKind, String, i64), UsageRecord>,
    /// Counters at the previous sample.
    last: HashMap<(UsageKind, String), Counters>,
    report_every: Duration,
    last_report: Option<Instant>,
    last_persist: Option<Instant>,
    dirty: bool,
}

impl Meter {
    /// A meter reporting every `report_every`, resuming the totals saved in `path`.
    pub fn open(path: Option<PathBuf>, report_every: Duration) -> anyhow::Result<Meter> {
        let mut hours = BTreeMap::new();
        if let Some(path) = path.as_ref().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let saved: UsageReport =
                serde_json::from_str(&text).with_context(|| format!("{} is not a usage file", path.display()))?;
            for r in saved.records {
                hours.insert((r.kind, r.id.clone(), r.hour), r);
            }
        }
        Ok(Meter {
            path,
            hours,
            last: HashMap::new(),
            report_every,
            last_report: None,
            last_persist: None,
            dirty: false,
        })
    }

    /// Reads every database and cluster of the node and adds what changed to the hour of
    /// `now_s` (Unix seconds).
    pub fn sample(&mut self, node: &redis_server::Node, broker: Option<&kafka_server::Broker>, now_s: i64) {
        let mut readings: Vec<Reading> = node
            .tenants
            .all()
            .iter()
            .map(|t| {
                let s = t.usage_sample();
                Reading {
                    kind: UsageKind::Redis,
                    id: t.id.0.clone(),
                    counters: [s.billable_commands, s.free_commands, s.bytes_in, s.bytes_out],
                    data_bytes: s.data_bytes,
                    connections: s.connections,
                }
            })
            .collect();
        for c in broker.map(|b| b.clusters()).unwrap_or_default() {
            let s = c.usage.sample();
            let counters = [s.messages_produced, s.messages_consumed, s.bytes_produced, s.bytes_consumed];
            readings.push(Reading {
                kind: UsageKind::Kafka,
                id: c.id.0.clone(),
                counters,
                data_bytes: 0,
                connections: 0,
            });
        }
        let hour = now_s - now_s.rem_euclid(HOUR_S);
        let mut seen = HashMap::with_capacity(readings.len());
        for reading in readings {
            self.add(&reading, hour);
            seen.insert((reading.kind, reading.id), reading.counters);
        }
        // Databases no longer hosted are forgotten (a later one with the same id starts at 0).
        self.last = seen;
        self.drop_older_than(hour - MAX_PENDING_HOURS * HOUR_S);
    }

    fn add(&mut self, reading: &Reading, hour: i64) {
        let previous = self.last.get(&(reading.kind, reading.id.clone())).copied().unwrap_or_default();
        let reset = reading.counters.iter().zip(&previous).any(|(now, before)| now < before);
        let key = (reading.kind, reading.id.clone(), hour);
        let record = self.hours.entry(key).or_insert_with(|| UsageRecord {
            kind: reading.kind,
            id: reading.id.clone(),
            hour,
            ..Default::default()
        });
        for (field, (now, before)) in
            counter_fields(reading.kind, record).into_iter().zip(reading.counters.iter().zip(previous))
        {
            let delta = if reset { *now } else { now - before };
            if delta > 0 {
                *field += delta;
                self.dirty = true;
            }
        }
        record.peak_data_bytes = record.peak_data_bytes.max(reading.data_bytes);
        record.peak_connections = record.peak_connections.max(reading.connections);
        if (record.data_bytes, record.connections) != (reading.data_bytes, reading.connections) {
            record.data_bytes = reading.data_bytes;
            record.connections = reading.connections;
            self.dirty = true;
        }
    }

    fn drop_older_than(&mut self, oldest_hour: i64) {
        let before = self.hours.len();
        self.hours.retain(|(_, _, hour), _| *hour >= oldest_hour);
        if self.hours.len() < before {
            tracing::warn!(dropped = before - self.hours.len(), "usage older than 7 days was never reported: dropped");
            self.dirty = true;
        }
    }

    /// Writes the totals to disk if they changed and the last write is old enough (or `force`).
    pub fn persist(&mut self, force: bool) -> anyhow::Result<()> {
        let due = self.last_persist.is_none_or(|t| t.elapsed() >= PERSIST_EVERY);
        if !self.dirty || !(force || due) {
            return Ok(());
        }
        let Some(path) = &self.path else { return Ok(()) };
        let body = serde_json::to_vec(&self.report())?;
        write_atomically(path, &body)?;
        self.dirty = false;
        self.last_persist = Some(Instant::now());
        Ok(())
    }

    /// Whether a report is due.
    pub fn report_due(&self) -> bool {
        self.last_report.is_none_or(|t| t.elapsed() >= self.report_every)
    }

    /// Every hour not yet known to be reported in full.
    pub fn report(&self) -> UsageReport {
        UsageReport { records: self.hours.values().cloned().collect() }
    }

    /// After the control plane took a report sampled at `sampled_s`: hours that had ended by
    /// then are final and reported, so they are dropped.
    pub fn reported(&mut self, sampled_s: i64) {
        self.last_report = Some(Instant::now());
        let before = self.hours.len();
        self.hours.retain(|(_, _, hour), _| hour + HOUR_S > sampled_s);
        self.dirty |= self.hours.len() < before;
    }
}

/// Writes `path` so that it holds either its old or its new content, never a mix: a
/// temporary file, fsynced, renamed over it.
pub fn write_atomically(path: &std::path::Path, body: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(body).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_server::{Node, NodeLimits, TenantConfig, TenantId};
    use std::sync::Arc;

    const H: i64 = 1_793_491_200;

    fn node_with(id: &str) -> (Arc<Node>, Arc<redis_server::tenant::Tenant>) {
        let node = Arc::new(Node::new(NodeLimits::default(), "test".into(), 0));
        let cfg = TenantConfig {
            id: TenantId(id.into()),
            password: format!("pw-{id}"),
            limits: Default::default(),
            role: Default::default(),
        };
        let tenant = node.upsert_tenant(&cfg).unwrap();
        (node, tenant)
    }

    fn count(t: &redis_server::tenant::Tenant, billable: usize) {
        for _ in 0..billable {
            t.usage.count(redis_server::usage::Billing::Billable);
        }
    }

    fn billable(m: &Meter, hour: i64) -> u64 {
        m.hours.get(&(UsageKind::Redis, "db".to_string(), hour)).map_or(0, |r| r.billable_commands)
    }

    #[test]
    fn samples_add_differences_to_the_current_hour() {
        let (node, t) = node_with("db");
        let mut m = Meter::open(None, Duration::from_secs(1)).unwrap();
        count(&t, 5);
        m.sample(&node, None, H + 10);
        m.sample(&node, None, H + 20);
        count(&t, 2);
        m.sample(&node, None, H + HOUR_S + 1);
        assert_eq!((billable(&m, H), billable(&m, H + HOUR_S)), (5, 2));
        // The control plane took the report sampled in the second hour: the first is final.
        m.reported(H + HOUR_S + 1);
        assert_eq!(m.report().records.len(), 1);
    }

    #[test]
    fn totals_survive_a_restart_without_double_counting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let (node, t) = node_with("db");
        let mut m = Meter::open(Some(path.clone()), Duration::from_secs(1)).unwrap();
        count(&t, 7);
        m.sample(&node, None, H + 10);
        m.persist(true).unwrap();
        // A restart: a new process with fresh counters and the saved totals.
        let (node, t) = node_with("db");
        let mut m = Meter::open(Some(path.clone()), Duration::from_secs(1)).unwrap();
        m.sample(&node, None, H + 20);
        assert_eq!(billable(&m, H), 7);
        count(&t, 3);
        m.sample(&node, None, H + 30);
        assert_eq!(billable(&m, H), 10);
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn a_recreated_database_counts_from_zero() {
        let (node, t) = node_with("db");
        let mut m = Meter::open(None, Duration::from_secs(1)).unwrap();
        count(&t, 9);
        m.sample(&node, None, H);
        node.remove_tenant(&TenantId("db".into())).unwrap();
        m.sample(&node, None, H + 1);
        let cfg = TenantConfig {
            id: TenantId("db".into()),
            password: "pw2".into(),
            limits: Default::default(),
            role: Default::default(),
        };
        let t = node.upsert_tenant(&cfg).unwrap();
        count(&t, 4);
        m.sample(&node, None, H + 2);
        assert_eq!(billable(&m, H), 13);
    }
}
