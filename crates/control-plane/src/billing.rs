//! The bill, computed from hourly usage and the plan table; no I/O. Amounts are micro-dollars
//! (1 cent = 10,000) so that per-command prices are exact integers.
//!
//! - Pay as you go: each UTC day, billable commands above the plan's free allowance (per
//!   database) cost `price_per_100k_commands_cents` per 100K; data costs
//!   `price_per_gb_month_cents` per GB-month, from each hour's peak data size summed over
//!   the copies (primary and read regions: each is stored; GB = 2^30 bytes; a month is its
//!   real number of hours).
//! - Fixed plans: the monthly price, +50% per read region, whatever the use.
//! - Kafka: messages produced plus consumed at the plan's price per 100K.

use control_api as api;

/// Prices of one plan row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanPrices {
    pub free_commands_per_day: Option<i64>,
    pub cents_per_100k: i64,
    pub cents_per_gb_month: i64,
    pub monthly_cents: i64,
}

const MICROS_PER_CENT: i128 = 10_000;
const GIB: i128 = 1 << 30;

/// Days since 1970-01-01 as (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `YYYY-MM-DD` of a Unix time (UTC).
pub fn date(unix_s: i64) -> String {
    let (y, m, d) = civil_from_days(unix_s.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC month containing `unix_s`: (`YYYY-MM`, its first second, its number of hours).
pub fn month_of(unix_s: i64) -> (String, i64, i64) {
    let days = unix_s.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let start_day = days - i64::from(d) + 1;
    let mut next_day = start_day + 28;
    while civil_from_days(next_day).1 == m {
        next_day += 1;
    }
    (format!("{y:04}-{m:02}"), start_day * 86_400, (next_day - start_day) * 24)
}

/// Sums hourly records into UTC days, oldest first.
pub fn days(hours: &[api::UsageRecord]) -> Vec<api::DayUsage> {
    let mut out: Vec<api::DayUsage> = Vec::new();
    for h in hours {
        let date = date(h.hour);
        if out.last().is_none_or(|d| d.date != date) {
            out.push(api::DayUsage { date, ..Default::default() });
        }
        let Some(day) = out.last_mut() else { continue };
        day.billable_commands += h.billable_commands;
        day.free_commands += h.free_commands;
        day.bytes_in += h.bytes_in;
        day.bytes_out += h.bytes_out;
        day.peak_data_bytes = day.peak_data_bytes.max(h.peak_data_bytes);
        day.messages_produced += h.messages_produced;
        day.messages_consumed += h.messages_consumed;
        day.bytes_produced += h.bytes_produced;
        day.bytes_consumed += h.bytes_consumed;
    }
    out
}

/// What one database or cluster is billed for.
pub struct Billed<'a> {
    pub kind: api::UsageKind,
    pub name: &'a str,
    pub plan: &'a str,
    pub prices: PlanPrices,
    pub read_regions: usize,
    /// This month's hourly usage, oldest first.
    pub hours: &'a [api::UsageRecord],
    pub hours_in_month: i64,
}

fn micros(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The bill lines of one database or cluster (at least one, possibly of zero).
pub fn bill_lines(b: &Billed) -> Vec<api::BillLine> {
    let line = |description: String, amount: i128| api::BillLine {
        kind: b.kind,
        name: b.name.to_string(),
        plan: b.plan.to_string(),
        description,
        amount_micros: micros(amount),
    };
    let mut lines = Vec::new();
    let p = b.prices;
    if p.monthly_cents > 0 {
        // Each read region adds half the price: (2 + regions) / 2 of it.
        let amount = i128::from(p.monthly_cents) * MICROS_PER_CENT * (2 + b.read_regions as i128) / 2;
        lines.push(line(format!("monthly price, {} read region(s)", b.read_regions), amount));
    }
    if p.cents_per_100k > 0 {
        let (units, what) = match b.kind {
            api::UsageKind::Redis => {
                (commands_over_allowance(b.hours, p.free_commands_per_day), "commands over the free allowance")
            }
            api::UsageKind::Kafka => {
                (b.hours.iter().map(|h| h.messages_produced + h.messages_consumed).sum(), "messages")
            }
        };
        let amount = i128::from(units) * i128::from(p.cents_per_100k) * MICROS_PER_CENT / 100_000;
        lines.push(line(format!("{} {what}", thousands(units)), amount));
    }
    if p.cents_per_gb_month > 0 && b.kind == api::UsageKind::Redis {
        let byte_hours: i128 = b.hours.iter().map(|h| i128::from(h.peak_data_bytes)).sum();
        let amount = byte_hours * i128::from(p.cents_per_gb_month) * MICROS_PER_CENT
            / (GIB * i128::from(b.hours_in_month.max(1)));
        let gb_hours = byte_hours as f64 / GIB as f64;
        lines.push(line(format!("{gb_hours:.3} GB-hours of data"), amount));
    }
    if lines.is_empty() {
        lines.push(line("no charge".into(), 0));
    }
    lines
}

/// Billable commands above the daily allowance, summed over days.
fn commands_over_allowance(hours: &[api::UsageRecord], free_per_day: Option<i64>) -> u64 {
    let free = free_per_day.unwrap_or(0).max(0) as u64;
    days(hours).iter().map(|d| d.billable_commands.saturating_sub(free)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    /// 2026-11-01T00:00:00Z.
    const NOV_1: i64 = 1_793_491_200;

    fn hour(at: i64, commands: u64, data: u64) -> api::UsageRecord {
        api::UsageRecord { hour: at, billable_commands: commands, peak_data_bytes: data, ..Default::default() }
    }

    fn payg() -> PlanPrices {
        PlanPrices { free_commands_per_day: Some(10_000), cents_per_100k: 20, cents_per_gb_month: 25, monthly_cents: 0 }
    }

    fn billed<'a>(kind: api::UsageKind, prices: PlanPrices, hours: &'a [api::UsageRecord], read: usize) -> Billed<'a> {
        Billed { kind, name: "db", plan: "p", prices, read_regions: read, hours, hours_in_month: 720 }
    }

    fn total(lines: &[api::BillLine]) -> i64 {
        lines.iter().map(|l| l.amount_micros).sum()
    }

    #[test]
    fn calendar() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(NOV_1), "2026-11-01");
        assert_eq!(date(NOV_1 - 1), "2026-10-31");
        assert_eq!(month_of(NOV_1 + 5 * DAY), ("2026-11".to_string(), NOV_1, 720));
        assert_eq!(month_of(NOV_1 - 1).2, 31 * 24);
        assert_eq!(month_of(1_709_164_800).0, "2024-02"); // 2024-02-29
        assert_eq!(month_of(1_709_164_800).2, 29 * 24);
    }

    #[test]
    fn payg_bills_commands_over_the_daily_allowance_and_data() {
        // Day 1: 15,000 commands over two hours (5,000 over); day 2: 9,000 (none over).
        let hours = [hour(NOV_1, 10_000, 0), hour(NOV_1 + 3600, 5_000, 0), hour(NOV_1 + DAY, 9_000, 0)];
        let lines = bill_lines(&billed(api::UsageKind::Redis, payg(), &hours, 0));
        // 5,000 commands at $0.20 per 100K = $0.01.
        assert_eq!(total(&lines), 10_000);
        assert!(lines[0].description.starts_with("5,000 commands"), "{:?}", lines[0]);
        // 1 GiB held for the whole 720-hour month = $0.25.
        let full: Vec<_> = (0..720).map(|h| hour(NOV_1 + h * 3600, 0, 1 << 30)).collect();
        assert_eq!(total(&bill_lines(&billed(api::UsageKind::Redis, payg(), &full, 0))), 250_000);
    }

    #[test]
    fn fixed_plans_cost_their_price_plus_half_per_read_region() {
        let fixed = PlanPrices { monthly_cents: 1000, ..Default::default() };
        let hours = [hour(NOV_1, 1_000_000, 1 << 30)];
        assert_eq!(total(&bill_lines(&billed(api::UsageKind::Redis, fixed, &hours, 0))), 10_000_000);
        assert_eq!(total(&bill_lines(&billed(api::UsageKind::Redis, fixed, &hours, 2))), 20_000_000);
        let free = PlanPrices { free_commands_per_day: Some(10_000), ..Default::default() };
        let lines = bill_lines(&billed(api::UsageKind::Redis, free, &hours, 0));
        assert_eq!((total(&lines), lines.len()), (0, 1));
    }

    #[test]
    fn kafka_bills_messages_produced_and_consumed() {
        let hours = [api::UsageRecord {
            hour: NOV_1,
            messages_produced: 150_000,
            messages_consumed: 50_000,
            ..Default::default()
        }];
        // 200K messages at $0.20 per 100K = $0.40.
        assert_eq!(total(&bill_lines(&billed(api::UsageKind::Kafka, payg(), &hours, 0))), 400_000);
    }

    #[test]
    fn days_sum_hours_and_keep_the_peak() {
        let hours = [hour(NOV_1, 1, 10), hour(NOV_1 + 3600, 2, 30), hour(NOV_1 + DAY, 4, 5)];
        let d = days(&hours);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].date.as_str(), d[0].billable_commands, d[0].peak_data_bytes), ("2026-11-01", 3, 30));
        assert_eq!((d[1].date.as_str(), d[1].billable_commands), ("2026-11-02", 4));
    }
}
