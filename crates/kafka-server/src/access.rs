//! Credentials of Kafka clusters: who may authenticate, to which cluster they belong, and what
//! they may do (full, produce-only or consume-only, on every topic, one topic or a prefix).

use crate::sasl::{Mechanism, ScramSecret, UserStore};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// Identifier of a Kafka cluster (the control plane's id), stable across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ClusterId(pub String);

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Full,
    ProduceOnly,
    ConsumeOnly,
}

impl std::str::FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Access::Full),
            "produce" | "produce-only" => Ok(Access::ProduceOnly),
            "consume" | "consume-only" => Ok(Access::ConsumeOnly),
            other => Err(format!("unknown access '{other}' (use full, produce or consume)")),
        }
    }
}

/// Which topics a credential reaches.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum TopicScope {
    All,
    Topic(String),
    Prefix(String),
}

impl TopicScope {
    pub fn covers(&self, topic: &str) -> bool {
        match self {
            TopicScope::All => true,
            TopicScope::Topic(name) => name == topic,
            TopicScope::Prefix(prefix) => topic.starts_with(prefix.as_str()),
        }
    }
}

/// What a request wants to do, checked against a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Write records.
    Produce,
    /// Read records, offsets, and use consumer groups.
    Consume,
    /// See that a topic exists (Metadata, configs).
    Describe,
    /// Create, delete or change topics.
    Manage,
}

/// A credential as declared by the control plane (or a flag in tests).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CredentialConfig {
    pub cluster: ClusterId,
    pub username: String,
    pub password: String,
    pub access: Access,
    pub scope: TopicScope,
}

/// A credential ready for authentication (SCRAM secrets derived once).
pub struct Credential {
    pub config: CredentialConfig,
    scram_sha256: ScramSecret,
    scram_sha512: ScramSecret,
}

impl Credential {
    pub fn new(config: CredentialConfig) -> Credential {
        let password = config.password.as_bytes();
        Credential {
            scram_sha256: ScramSecret::generate(Mechanism::ScramSha256, password),
            scram_sha512: ScramSecret::generate(Mechanism::ScramSha512, password),
            config,
        }
    }

    pub fn allows(&self, operation: Operation, topic: &str) -> bool {
        let access_ok = matches!(
            (self.config.access, operation),
            (Access::Full, _)
                | (_, Operation::Describe)
                | (Access::ProduceOnly, Operation::Produce)
                | (Access::ConsumeOnly, Operation::Consume)
        );
        access_ok && self.config.scope.covers(topic)
    }

    /// Consumer groups are for credentials that may consume.
    pub fn may_use_groups(&self) -> bool {
        matches!(self.config.access, Access::Full | Access::ConsumeOnly)
    }
}

/// Every credential of a node, by user name.
#[derive(Default)]
pub struct Credentials {
    by_username: RwLock<HashMap<String, Arc<Credential>>>,
}

impl Credentials {
    /// Adds or replaces a credential; a changed password or scope takes effect for new
    /// connections (existing ones are closed by the caller).
    pub fn upsert(&self, config: CredentialConfig) -> Arc<Credential> {
        let mut map = self.by_username.write();
        if let Some(existing) = map.get(&config.username) {
            if existing.config == config {
                return existing.clone();
            }
        }
        let credential = Arc::new(Credential::new(config));
        map.insert(credential.config.username.clone(), credential.clone());
        credential
    }

    pub fn remove(&self, username: &str) -> Option<Arc<Credential>> {
        self.by_username.write().remove(username)
    }

    pub fn get(&self, username: &str) -> Option<Arc<Credential>> {
        self.by_username.read().get(username).cloned()
    }

    /// Whether `credential` is still the one registered under its user name (not removed,
    /// not replaced by a changed password, access or scope). One read lock and one lookup.
    pub fn is_current(&self, credential: &Arc<Credential>) -> bool {
        self.by_username.read().get(&credential.config.username).is_some_and(|c| Arc::ptr_eq(c, credential))
    }

    pub fn all(&self) -> Vec<Arc<Credential>> {
        self.by_username.read().values().cloned().collect()
    }
}

impl UserStore for Credentials {
    fn plain_password(&self, username: &str) -> Option<Vec<u8>> {
        self.get(username).map(|c| c.config.password.as_bytes().to_vec())
    }

    fn scram_secret(&self, username: &str, mechanism: Mechanism) -> Option<ScramSecret> {
        let credential = self.get(username)?;
        match mechanism {
            Mechanism::ScramSha256 => Some(credential.scram_sha256.clone()),
            Mechanism::ScramSha512 => Some(credential.scram_sha512.clone()),
            Mechanism::Plain => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(access: Access, scope: TopicScope) -> Credential {
        Credential::new(CredentialConfig {
            cluster: ClusterId("c1".into()),
            username: "u".into(),
            password: "p".into(),
            access,
            scope,
        })
    }

    #[test]
    fn access_and_scope_are_both_checked() {
        let producer = credential(Access::ProduceOnly, TopicScope::Prefix("orders.".into()));
        assert!(producer.allows(Operation::Produce, "orders.eu"));
        assert!(!producer.allows(Operation::Produce, "payments"));
        assert!(!producer.allows(Operation::Consume, "orders.eu"));
        assert!(producer.allows(Operation::Describe, "orders.eu"));
        assert!(!producer.allows(Operation::Manage, "orders.eu"));
        assert!(!producer.may_use_groups());
        let consumer = credential(Access::ConsumeOnly, TopicScope::Topic("t".into()));
        assert!(consumer.allows(Operation::Consume, "t"));
        assert!(!consumer.allows(Operation::Consume, "t2"));
        assert!(consumer.may_use_groups());
        let full = credential(Access::Full, TopicScope::All);
        assert!(full.allows(Operation::Manage, "anything"));
    }

    #[test]
    fn a_removed_or_changed_credential_is_no_longer_current() {
        let credentials = Credentials::default();
        let config = credential(Access::Full, TopicScope::All).config;
        let first = credentials.upsert(config.clone());
        assert!(credentials.is_current(&first));
        // The same declaration again keeps the same credential (open connections stay).
        let same = credentials.upsert(config.clone());
        assert!(credentials.is_current(&first) && Arc::ptr_eq(&first, &same));
        let changed = credentials.upsert(CredentialConfig { password: "other".into(), ..config });
        assert!(!credentials.is_current(&first));
        assert!(credentials.is_current(&changed));
        credentials.remove("u");
        assert!(!credentials.is_current(&changed));
    }
}
