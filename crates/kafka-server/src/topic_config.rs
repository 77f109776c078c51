//! Topic settings by their Kafka names (`retention.ms`, `cleanup.policy`, …): validation of
//! values a client sends, defaults, and the values DescribeConfigs reports.

use std::collections::BTreeMap;

/// One topic setting Tern understands.
pub struct ConfigKey {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: ValueKind,
}

pub enum ValueKind {
    /// An integer in the range, inclusive.
    Int(i64, i64),
    /// One of these words (a list for `cleanup.policy`).
    OneOf(&'static [&'static str]),
    List(&'static [&'static str]),
}

/// Every topic setting accepted; anything else is refused with INVALID_CONFIG, so a typo is
/// not silently ignored.
pub static TOPIC_CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey { name: "cleanup.policy", default: "delete", kind: ValueKind::List(&["delete", "compact"]) },
    ConfigKey { name: "retention.ms", default: "604800000", kind: ValueKind::Int(-1, i64::MAX) },
    ConfigKey { name: "retention.bytes", default: "-1", kind: ValueKind::Int(-1, i64::MAX) },
    ConfigKey { name: "max.message.bytes", default: "1048588", kind: ValueKind::Int(0, 100 * 1024 * 1024) },
    ConfigKey { name: "segment.bytes", default: "134217728", kind: ValueKind::Int(14, 1 << 30) },
    ConfigKey { name: "segment.index.bytes", default: "10485760", kind: ValueKind::Int(4, i32::MAX as i64) },
    ConfigKey { name: "index.interval.bytes", default: "4096", kind: ValueKind::Int(0, i32::MAX as i64) },
    ConfigKey { name: "delete.retention.ms", default: "86400000", kind: ValueKind::Int(0, i64::MAX) },
    ConfigKey {
        name: "message.timestamp.type",
        default: "CreateTime",
        kind: ValueKind::OneOf(&["CreateTime", "LogAppendTime"]),
    },
    ConfigKey { name: "min.insync.replicas", default: "1", kind: ValueKind::Int(1, 1) },
    ConfigKey {
        name: "compression.type",
        default: "producer",
        kind: ValueKind::OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
    },
];

pub fn key(name: &str) -> Option<&'static ConfigKey> {
    TOPIC_CONFIG_KEYS.iter().find(|k| k.name == name)
}

/// Checks one setting; the error text goes back to the client.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(key) = key(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    let ok = match &key.kind {
        ValueKind::Int(min, max) => value.parse::<i64>().is_ok_and(|v| v >= *min && v <= *max),
        ValueKind::OneOf(words) => words.contains(&value),
        ValueKind::List(words) => !value.is_empty() && value.split(',').all(|w| words.contains(&w.trim())),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("Invalid value {value} for configuration {name}"))
    }
}

/// The explicitly set values of a topic (unset ones take the defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicConfig(pub BTreeMap<String, String>);

impl TopicConfig {
    pub fn get(&self, name: &str) -> &str {
        match self.0.get(name) {
            Some(v) => v,
            None => key(name).map(|k| k.default).unwrap_or(""),
        }
    }

    pub fn int(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(-1)
    }

    pub fn is_explicit(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Whether the log keeps only the newest record per key.
    pub fn is_compacted(&self) -> bool {
        self.get("cleanup.policy").split(',').any(|w| w.trim() == "compact")
    }
}

/// Kafka's rule for topic names: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be empty or longer than 249 characters: '{name}'"));
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".to_string());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_kind() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert_eq!(validate("retention.mss", "1"), Err("Unknown topic config name: retention.mss".into()));
    }

    #[test]
    fn defaults_apply_until_set() {
        let mut config = TopicConfig::default();
        assert_eq!(config.int("max.message.bytes"), 1048588);
        assert!(!config.is_compacted());
        config.0.insert("cleanup.policy".into(), "compact".into());
        assert!(config.is_compacted());
        assert!(config.is_explicit("cleanup.policy"));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.eu-1_a").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }
}
