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
    /// A finite number in the range, inclusive (Kafka's DOUBLE).
    Double(f64, f64),
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
    ConfigKey { name: "min.cleanable.dirty.ratio", default: "0.5", kind: ValueKind::Double(0.0, 1.0) },
    ConfigKey { name: "min.compaction.lag.ms", default: "0", kind: ValueKind::Int(0, i64::MAX) },
    ConfigKey { name: "max.compaction.lag.ms", default: "9223372036854775807", kind: ValueKind::Int(1, i64::MAX) },
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
        ValueKind::Double(min, max) => value.trim().parse::<f64>().is_ok_and(|v| v >= *min && v <= *max),
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

    /// A `Double` setting; an unparsable value (never stored: values are validated) reads as
    /// the key's default.
    pub fn double(&self, name: &str) -> f64 {
        let default = || key(name).and_then(|k| k.default.parse().ok()).unwrap_or(0.0);
        self.get(name).trim().parse().unwrap_or_else(|_| default())
    }

    /// Checks every explicit value, then the rules between keys (Kafka's
    /// `LogConfig.validateValues`); the error text goes back to the client.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in &self.0 {
            validate(name, value)?;
        }
        let (min_lag_ms, max_lag_ms) = (self.int("min.compaction.lag.ms"), self.int("max.compaction.lag.ms"));
        if min_lag_ms > max_lag_ms {
            return Err(format!(
                "conflict topic config setting min.compaction.lag.ms ({min_lag_ms}) > max.compaction.lag.ms ({max_lag_ms})"
            ));
        }
        Ok(())
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
    fn compaction_settings_follow_kafka_ranges() {
        for good in ["0", "0.5", "1", "1.0", "0.01"] {
            assert!(validate("min.cleanable.dirty.ratio", good).is_ok(), "{good}");
        }
        for bad in ["-0.1", "1.5", "NaN", "inf", "half", ""] {
            assert!(validate("min.cleanable.dirty.ratio", bad).is_err(), "{bad}");
        }
        assert!(validate("min.compaction.lag.ms", "0").is_ok());
        assert!(validate("min.compaction.lag.ms", "-1").is_err());
        assert!(validate("max.compaction.lag.ms", "0").is_err());
        assert!(validate("max.compaction.lag.ms", "9223372036854775807").is_ok());
        let mut config = TopicConfig::default();
        assert_eq!(config.double("min.cleanable.dirty.ratio"), 0.5);
        assert_eq!(config.int("max.compaction.lag.ms"), i64::MAX);
        config.0.insert("min.compaction.lag.ms".into(), "5000".into());
        assert!(config.validate().is_ok());
        config.0.insert("max.compaction.lag.ms".into(), "4000".into());
        assert!(config.validate().unwrap_err().contains("min.compaction.lag.ms (5000) > max.compaction.lag.ms (4000)"));
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
