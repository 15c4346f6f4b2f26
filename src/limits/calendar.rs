//! UTC months from Unix time, for monthly budgets (Howard Hinnant's civil-date algorithms).

use std::time::Duration;

const DAY: u64 = 86_400;

/// Months since year 0: a number that changes exactly when the UTC month does.
pub fn month_index(unix_secs: u64) -> u64 {
    let (year, month) = civil(days(unix_secs));
    u64::try_from(year * 12 + i64::from(month) - 1).unwrap_or(0)
}

/// From `unix_secs` to 00:00 UTC on the first of the next month.
pub fn to_next_month(unix_secs: u64) -> Duration {
    let (year, month) = civil(days(unix_secs));
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let next = u64::try_from(days_from_civil(year, month, 1)).unwrap_or(0) * DAY;
    Duration::from_secs(next.saturating_sub(unix_secs))
}

fn days(unix_secs: u64) -> i64 {
    i64::try_from(unix_secs / DAY).unwrap_or(0)
}

/// (year, month 1..=12) of a day count since 1970-01-01.
fn civil(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1))
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_their_ends() {
        // 2026-11-24T06:00:00Z
        let now = 1_795_500_000 - 1_795_500_000 % DAY + 6 * 3600;
        assert_eq!(civil(days(now)), (2026, 11));
        // to 2026-12-01T00:00:00Z: 6 days 18 hours.
        assert_eq!(to_next_month(now), Duration::from_secs(6 * DAY + 18 * 3600));
        assert_eq!(civil(0), (1970, 1));
        assert_eq!(civil(days_from_civil(2024, 2, 29)), (2024, 2), "leap day");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        let december = u64::try_from(days_from_civil(2026, 12, 31)).unwrap_or(0) * DAY;
        assert_eq!(
            month_index(december) + 1,
            month_index(december + DAY),
            "the year turns"
        );
    }
}
