//! Cron schedules read in an IANA time zone: the recurring timers' (`cron`) and the cron sources' (`schedule`).
//! croner parses 5 fields, or 6 with seconds first, and steps through daylight-saving changes in the zone.

use std::str::FromStr;

use crate::store::Millis;

/// Why a schedule was refused: its expression, or its time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronError {
    Expression(String),
    Timezone,
}

/// The first moment of the schedule `expr`, read in `timezone`, strictly after `after` (ms).
pub fn next_after(expr: &str, timezone: &str, after: Millis) -> Result<Millis, CronError> {
    let bad = CronError::Expression;
    // An empty list item (`,5`, `1,,2`) made croner search for seconds for a moment that never comes (found by
    // the `cron` fuzz target): refused before it is parsed.
    if expr.split_whitespace().any(|field| field.split(',').any(str::is_empty)) {
        return Err(bad("an empty item in a list".into()));
    }
    let cron = croner::Cron::from_str(expr).map_err(|e| bad(e.to_string()))?;
    let tz: chrono_tz::Tz = timezone.parse().map_err(|_| CronError::Timezone)?;
    let from = chrono::DateTime::from_timestamp_millis(after).ok_or_else(|| bad("out of range".into()))?;
    let next = cron.find_next_occurrence(&from.with_timezone(&tz), false).map_err(|e| bad(e.to_string()))?;
    Ok(next.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_minutes_and_zones() {
        let t = 1_700_000_000_000; // 2023-11-14T22:13:20Z
        assert_eq!(next_after("* * * * * *", "UTC", t), Ok(t + 1000));
        assert_eq!(next_after("0 * * * *", "UTC", t), Ok(1_700_002_800_000));
        assert_eq!(next_after("0 0 * * *", "Europe/Paris", t), Ok(1_700_002_800_000));
        assert_eq!(next_after("0 0 * * *", "Mars/Olympus", t), Err(CronError::Timezone));
        assert!(matches!(next_after("1,,2 * * * *", "UTC", t), Err(CronError::Expression(_))));
        assert!(matches!(next_after("every minute", "UTC", t), Err(CronError::Expression(_))));
    }
}
