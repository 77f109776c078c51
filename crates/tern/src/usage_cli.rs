//! `tern usage [NAME]`: usage per day and the running bill for the month, and the usage lines
//! of `tern redis status` / `tern kafka status`.

use crate::client::{print_json, table, ApiArgs, Client};
use control_api as api;

pub fn usage(args: &ApiArgs, name: Option<String>) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    let path = match &name {
        Some(n) => format!("/v1/usage?name={}", encode_query(n)),
        None => "/v1/usage".to_string(),
    };
    let usage: api::OrgUsage = c.get(&path)?;
    if args.json {
        return print_json(&usage);
    }
    println!("Usage in {} (UTC days), org {}", usage.month, usage.org);
    for r in &usage.resources {
        println!();
        println!("{} ({}, plan {})", r.name, kind_name(r.kind), r.plan);
        if r.days.is_empty() {
            println!("No usage reported this month.");
            continue;
        }
        print_days(r.kind, &r.days);
    }
    println!();
    println!("Bill for {} so far:", usage.month);
    let rows: Vec<Vec<String>> = usage
        .bill
        .iter()
        .map(|l| vec![l.name.clone(), l.plan.clone(), l.description.clone(), money(l.amount_micros)])
        .collect();
    table(&["Name", "Plan", "Charge", "Amount"], &rows);
    println!("Total: {}", money(usage.total_micros));
    let notifications: Vec<api::Notification> = c.get("/v1/notifications")?;
    if !notifications.is_empty() {
        println!();
        println!("Notifications:");
        for n in notifications.iter().take(10) {
            println!("- {}", n.message);
        }
    }
    Ok(())
}

fn print_days(kind: api::UsageKind, days: &[api::DayUsage]) {
    match kind {
        api::UsageKind::Redis => {
            let rows: Vec<Vec<String>> = days
                .iter()
                .map(|d| {
                    vec![
                        d.date.clone(),
                        d.billable_commands.to_string(),
                        d.free_commands.to_string(),
                        human_bytes(d.bytes_in + d.bytes_out),
                        human_bytes(d.peak_data_bytes),
                    ]
                })
                .collect();
            table(&["Date", "Commands", "Free Commands", "Bandwidth", "Data Size"], &rows);
        }
        api::UsageKind::Kafka => {
            let rows: Vec<Vec<String>> = days
                .iter()
                .map(|d| {
                    vec![
                        d.date.clone(),
                        d.messages_produced.to_string(),
                        d.messages_consumed.to_string(),
                        human_bytes(d.bytes_produced + d.bytes_consumed),
                    ]
                })
                .collect();
            table(&["Date", "Produced", "Consumed", "Bandwidth"], &rows);
        }
    }
}

fn kind_name(kind: api::UsageKind) -> &'static str {
    match kind {
        api::UsageKind::Redis => "Redis database",
        api::UsageKind::Kafka => "Kafka cluster",
    }
}

/// Usage lines of `tern redis status`.
pub fn database_rows(u: Option<&api::DatabaseUsage>) -> Vec<(&'static str, String)> {
    let Some(u) = u else { return vec![("Usage", "none reported yet".into())] };
    vec![
        ("Commands Today", format!("{} billable, {} free", u.billable_commands_today, u.free_commands_today)),
        ("Data Size", human_bytes(u.data_bytes)),
        ("Connections", u.connections.to_string()),
    ]
}

/// Usage lines of `tern kafka status`.
pub fn kafka_rows(u: Option<&api::KafkaUsage>) -> Vec<(&'static str, String)> {
    let Some(u) = u else { return vec![("Usage", "none reported yet".into())] };
    vec![
        ("Messages Today", format!("{} produced, {} consumed", u.messages_produced_today, u.messages_consumed_today)),
        ("Bandwidth Today", human_bytes(u.bytes_produced_today + u.bytes_consumed_today)),
    ]
}

/// `1536` as `1.5 KB` (powers of 1024, as the plan sizes).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Micro-dollars as dollars: cents, or four decimals below a cent so small charges show.
pub fn money(micros: i64) -> String {
    let dollars = micros as f64 / 1_000_000.0;
    if micros != 0 && micros.abs() < 10_000 {
        format!("${dollars:.4}")
    } else {
        format!("${dollars:.2}")
    }
}

/// A query value with the characters names may not contain escaped (names are
/// `[a-z0-9-]`, ids too; anything else is percent-encoded).
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KB");
        assert_eq!(human_bytes(3 << 30), "3.0 GB");
        assert_eq!(money(4_000), "$0.0040");
        assert_eq!(money(15_200_000), "$15.20");
        assert_eq!(money(0), "$0.00");
        assert_eq!(encode_query("my-db"), "my-db");
        assert_eq!(encode_query("a b&c"), "a%20b%26c");
    }
}
