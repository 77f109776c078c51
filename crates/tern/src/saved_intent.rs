//! The node's last intent from the control plane, kept in its data folder (`intent.json`):
//! what a node restarted while the control plane is down serves, and what tells a node
//! restarted after a database was destroyed which folders to delete.

use anyhow::Context;
use control_api as api;
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

fn read(path: &Path) -> anyhow::Result<Option<Saved>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    anyhow::ensure!(bytes.len() as u64 <= MAX_FILE_BYTES, "larger than {MAX_FILE_BYTES} bytes");
    Ok(Some(serde_json::from_slice(&bytes)?))
}

/// Writes a fresh owner-only file beside `path`, fsyncs it, renames it over `path` and fsyncs
/// the folder: after a crash the file is the old one or the new one, whole. It holds the
/// databases' passwords, as the folder holds their data.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
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
            })
            .collect();
        api::NodeIntent { tenants, kafka_clusters: Vec::new() }
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
