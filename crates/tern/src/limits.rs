//! Database limits as the node receives them: `NAME=VALUE` options of a tenants-file line
//! (or `--tenant`), and the limits of the control plane's intent.

use control_api as api;
use redis_server::persistence::FsyncPolicy;
use redis_server::{Eviction, TenantLimits};

/// `123`, or with a binary suffix: `64kb`, `256mb`, `1gb` (case-insensitive, `b` optional).
fn parse_size(value: &str) -> Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    let n: u64 = digits.parse().map_err(|_| format!("`{value}` is not a size"))?;
    let unit: u64 = match suffix.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("`{value}`: unknown unit (use kb, mb or gb)")),
    };
    n.checked_mul(unit).ok_or_else(|| format!("`{value}` is too large"))
}

fn parse_eviction(value: &str) -> Result<Eviction, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(Eviction::On),
        "off" | "no" | "false" => Ok(Eviction::Off),
        _ => Err(format!("eviction must be on or off, not `{value}`")),
    }
}

/// Limits from options such as `max_data_bytes=1mb eviction=on fsync=always`; those not
/// given are unlimited (eviction off, the node's `--fsync`).
pub fn parse_options<'a>(options: impl Iterator<Item = &'a str>) -> Result<TenantLimits, String> {
    let mut limits = TenantLimits::default();
    for option in options {
        let (name, value) = option.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got `{option}`"))?;
        match name {
            "max_data_bytes" => limits.max_data_bytes = parse_size(value)?,
            "max_request_bytes" => limits.max_request_bytes = parse_size(value)?,
            "max_record_bytes" => limits.max_record_bytes = parse_size(value)?,
            "max_key_bytes" => limits.max_key_bytes = parse_size(value)?,
            "max_connections" => limits.max_connections = parse_size(value)?,
            "max_commands_per_second" => limits.max_commands_per_second = parse_size(value)?,
            "eviction" => limits.eviction = parse_eviction(value)?,
            "fsync" => limits.fsync = Some(value.parse::<FsyncPolicy>()?),
            _ => return Err(format!("unknown limit `{name}`")),
        }
    }
    Ok(limits)
}

/// The control plane's limits for one database (negative values mean no limit).
pub fn from_intent(limits: &api::TenantLimits) -> TenantLimits {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    TenantLimits {
        max_data_bytes: n(limits.max_data_bytes),
        max_request_bytes: n(limits.max_request_bytes),
        max_record_bytes: n(limits.max_record_bytes),
        max_key_bytes: n(limits.max_key_bytes),
        max_connections: n(limits.max_connections),
        max_commands_per_second: n(limits.max_commands_per_second),
        eviction: if limits.eviction { Eviction::On } else { Eviction::Off },
        fsync: limits.fsync.map(|policy| match policy {
            api::FsyncPolicy::Always => FsyncPolicy::Always,
            api::FsyncPolicy::EverySec => FsyncPolicy::EverySec,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_with_units() {
        let l = parse_options("max_data_bytes=2mb max_key_bytes=100 eviction=on max_commands_per_second=50".split(' '))
            .unwrap();
        assert_eq!(l.max_data_bytes, 2 << 20);
        assert_eq!(l.max_key_bytes, 100);
        assert_eq!(l.max_commands_per_second, 50);
        assert_eq!(l.eviction, Eviction::On);
        assert_eq!(parse_options(std::iter::empty()).unwrap(), TenantLimits::default());
        assert_eq!(parse_size("64KB"), Ok(65536));
        assert!(parse_options(["max_data_bytes=12xb"].into_iter()).is_err());
        assert!(parse_options(["colour=blue"].into_iter()).is_err());
        assert!(parse_options(["eviction=maybe"].into_iter()).is_err());
        assert_eq!(parse_options(["fsync=always"].into_iter()).unwrap().fsync, Some(FsyncPolicy::Always));
        assert_eq!(parse_options(["fsync=everysec"].into_iter()).unwrap().fsync, Some(FsyncPolicy::EverySec));
        assert_eq!(l.fsync, None);
        assert!(parse_options(["fsync=sometimes"].into_iter()).is_err());
    }

    #[test]
    fn intent_limits_convert() {
        let l = from_intent(&api::TenantLimits {
            max_data_bytes: 10,
            eviction: true,
            max_connections: -1,
            ..Default::default()
        });
        assert_eq!((l.max_data_bytes, l.eviction, l.max_connections), (10, Eviction::On, 0));
        assert_eq!(l.fsync, None);
        let l = from_intent(&api::TenantLimits { fsync: Some(api::FsyncPolicy::Always), ..Default::default() });
        assert_eq!(l.fsync, Some(FsyncPolicy::Always));
    }
}
