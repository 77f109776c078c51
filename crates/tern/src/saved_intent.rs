//! The node's last intent from the control plane, kept in its data folder (`intent.json`):
//! what a node restarted while the control plane is down serves, and what tells a node
//! restarted after a database was destroyed which folders to delete. Also the control plane
//! state the node serves (`deployment-id`), which decides whether an intent may delete data.

use anyhow::Context;
use control_api as api;
use control_api::DeploymentId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Largest intent file read back; a bigger one is not ours (a node holds far fewer databases).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The file's content: the intent and the node it was meant for.
#[derive(Serialize, Deserialize, PartialEq)]
struct Saved {
    node_id: String,
    intent: api::NodeIntent,
}

pub struct SavedIntent {
    path: PathBuf,
    node_id: String,
    /// The intent as last written (or read at start), if it was this node's.
    last: Option<api::NodeIntent>,
}

impl SavedIntent {
    /// Reads `DATA_DIR/intent.json`. A missing, unreadable or damaged file, or one written
    /// for another node id, gives no saved intent (logged): the control plane's next answer
    /// replaces it.
    pub fn open(data_dir: &Path, node_id: &str) -> SavedIntent {
        let path = data_dir.join("intent.json");
        let last = match read(&path) {
            Ok(None) => None,
            Ok(Some(saved)) if saved.node_id == node_id => Some(saved.intent),
            Ok(Some(saved)) => {
                tracing::warn!(file = %path.display(), saved_for = %saved.node_id, node = %node_id,
                    "the saved intent belongs to another node id; ignoring it");
                None
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = format!("{e:#}"), "cannot read the saved intent; ignoring it");
                None
            }
        };
        SavedIntent { path, node_id: node_id.to_string(), last }
    }

    /// The intent last saved for this node.
    pub fn last(&self) -> Option<&api::NodeIntent> {
        self.last.as_ref()
    }

    /// Keeps `intent` (fsynced, replacing the file atomically) unless it is the one kept.
    pub fn save(&mut self, intent: &api::NodeIntent) -> anyhow::Result<()> {
        if self.last.as_ref() == Some(intent) {
            return Ok(());
        }
        let saved = Saved { node_id: self.node_id.clone(), intent: intent.clone() };
        write_atomically(&self.path, &serde_json::to_vec(&saved)?)
            .with_context(|| format!("saving the intent to {}", self.path.display()))?;
        self.last = Some(intent.clone());
        Ok(())
    }
}

/// Largest deployment id file read back (an id is a few dozen bytes).
const MAX_DEPLOYMENT_FILE_BYTES: u64 = 4096;

/// What a node does with an intent from another control plane state than the one it served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adoption {
    /// Keep every database of the served state (the default: a control plane started on a
    /// new or wrong state must not wipe nodes).
    KeepServed,
    /// Accept the new state and apply its intent fully (`--adopt-control-plane`).
    AdoptNew,
}

/// Whether an intent may be applied with its deletions.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It comes from the served state (or the node just adopted it): apply it fully.
    Apply,
    /// It comes from another state: add what it lists, delete nothing.
    HoldBack { served: DeploymentId },
}

/// The control plane state (its `deployment_id`) whose intents this node applies, kept in
/// `DATA_DIR/deployment-id` (in memory only for a node without a data folder). A node that
/// knows none adopts the first it sees.
pub struct ServedDeployment {
    path: Option<PathBuf>,
    id: Option<DeploymentId>,
}

impl ServedDeployment {
    /// For a node without a data folder: remembered while the process runs.
    pub fn in_memory() -> ServedDeployment {
        ServedDeployment { path: None, id: None }
    }

    /// Reads `DATA_DIR/deployment-id`; missing means none served yet. An unreadable file is
    /// an error (the node does not start): guessing could let a foreign intent delete data.
    pub fn open(data_dir: &Path) -> anyhow::Result<ServedDeployment> {
        let path = data_dir.join("deployment-id");
        let id = read_bounded(&path, MAX_DEPLOYMENT_FILE_BYTES)
            .and_then(|bytes| match bytes {
                None => Ok(None),
                Some(bytes) => {
                    let text = String::from_utf8(bytes).context("not UTF-8")?;
                    let id = text.trim();
                    anyhow::ensure!(!id.is_empty() && !id.contains(char::is_whitespace), "not a deployment id");
                    Ok(Some(DeploymentId(id.to_string())))
                }
            })
            .with_context(|| {
                format!("reading {} (fix or delete it to adopt the next control plane)", path.display())
            })?;
        Ok(ServedDeployment { path: Some(path), id })
    }

    /// The state served, if any yet.
    #[cfg(test)]
    pub fn id(&self) -> Option<&DeploymentId> {
        self.id.as_ref()
    }

    /// Decides how an intent from `offered` is applied, adopting it (and keeping it on disk)
    /// when none was served yet or `adoption` says so. An intent without an id (an older
    /// control plane) cannot be checked and is applied.
    pub fn check(&mut self, offered: Option<&DeploymentId>, adoption: Adoption) -> Verdict {
        let Some(offered) = offered else { return Verdict::Apply };
        match &self.id {
            Some(served) if served == offered => Verdict::Apply,
            Some(served) if adoption == Adoption::KeepServed => Verdict::HoldBack { served: served.clone() },
            served => {
                tracing::warn!(deployment = %offered, was = ?served.as_ref().map(|d| &d.0),
                    "serving this control plane state from now on");
                self.adopt(offered);
                Verdict::Apply
            }
        }
    }

    /// Serves `id` from now on. A failed write is logged: the node still serves it, but after a
    /// restart it would adopt whatever state it sees first.
    fn adopt(&mut self, id: &DeploymentId) {
        self.id = Some(id.clone());
        let Some(path) = &self.path else { return };
        if let Err(e) = write_atomically(path, format!("{id}\n").as_bytes()) {
            tracing::error!(file = %path.display(), error = %e, "cannot keep the served deployment id on disk");
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Option<Saved>> {
    match read_bounded(path, MAX_FILE_BYTES)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

/// A file's bytes, `None` if it does not exist, an error past `max_bytes`.
fn read_bounded(path: &Path, max_bytes: u64) -> anyhow::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    anyhow::ensure!(bytes.len() as u64 <= max_bytes, "larger than {max_bytes} bytes");
    Ok(Some(bytes))
}

/// Writes a fresh owner-only file beside `path`, fsyncs it, renames it over `path` and fsyncs
/// the folder: after a crash the file is the old one or the new one, whole. It holds the
/// databases' passwords, as the folder holds their data.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(ids: &[&str]) -> api::NodeIntent {
        let tenants = ids
            .iter()
            .map(|id| api::TenantIntent {
                id: id.to_string(),
                password: format!("pw-{id}"),
                limits: Default::default(),
                role: Default::default(),
            })
            .collect();
        api::NodeIntent { tenants, kafka_clusters: Vec::new(), deployment_id: Some(DeploymentId("dep_a".into())) }
    }

    fn dep(id: &str) -> DeploymentId {
        DeploymentId(id.into())
    }

    #[test]
    fn the_first_deployment_seen_is_kept_and_another_is_held_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut served = ServedDeployment::open(dir.path()).unwrap();
        assert_eq!(served.id(), None);
        assert_eq!(served.check(Some(&dep("dep_a")), Adoption::KeepServed), Verdict::Apply);
        assert_eq!(served.check(Some(&dep("dep_b")), Adoption::KeepServed), Verdict::HoldBack { served: dep("dep_a") });
        // An older control plane sends no id: nothing to compare, nothing changes.
        assert_eq!(served.check(None, Adoption::KeepServed), Verdict::Apply);
        let mut reopened = ServedDeployment::open(dir.path()).unwrap();
        assert_eq!(reopened.id(), Some(&dep("dep_a")));
        assert_eq!(
            reopened.check(Some(&dep("dep_b")), Adoption::KeepServed),
            Verdict::HoldBack { served: dep("dep_a") }
        );
        assert!(!dir.path().join("deployment-id.tmp").exists());
    }

    #[test]
    fn adopting_replaces_the_served_deployment_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        ServedDeployment::open(dir.path()).unwrap().check(Some(&dep("dep_a")), Adoption::KeepServed);
        let mut served = ServedDeployment::open(dir.path()).unwrap();
        assert_eq!(served.check(Some(&dep("dep_b")), Adoption::AdoptNew), Verdict::Apply);
        assert_eq!(ServedDeployment::open(dir.path()).unwrap().id(), Some(&dep("dep_b")));
    }

    #[test]
    fn a_damaged_deployment_file_stops_the_node() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("deployment-id"), b"").unwrap();
        assert!(ServedDeployment::open(dir.path()).is_err());
        std::fs::write(dir.path().join("deployment-id"), vec![b'x'; 5000]).unwrap();
        assert!(ServedDeployment::open(dir.path()).is_err());
        let mut memory = ServedDeployment::in_memory();
        assert_eq!(memory.check(Some(&dep("dep_a")), Adoption::KeepServed), Verdict::Apply);
        assert_eq!(memory.check(Some(&dep("dep_b")), Adoption::KeepServed), Verdict::HoldBack { served: dep("dep_a") });
    }

    #[test]
    fn an_intent_saved_is_read_back_by_the_same_node_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut saved = SavedIntent::open(dir.path(), "mad-1");
        assert!(saved.last().is_none());
        saved.save(&intent(&["db_a", "db_b"])).unwrap();
        assert_eq!(SavedIntent::open(dir.path(), "mad-1").last(), Some(&intent(&["db_a", "db_b"])));
        assert!(SavedIntent::open(dir.path(), "mad-2").last().is_none());
        saved.save(&intent(&["db_b"])).unwrap();
        assert_eq!(SavedIntent::open(dir.path(), "mad-1").last(), Some(&intent(&["db_b"])));
        assert!(!dir.path().join("intent.json.tmp").exists());
    }

    #[test]
    fn a_damaged_file_gives_no_intent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("intent.json"), b"{\"node_id\": \"mad-1\", \"intent\": {\"tenants\": [")
            .unwrap();
        assert!(SavedIntent::open(dir.path(), "mad-1").last().is_none());
    }
}
