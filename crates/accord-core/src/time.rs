//! Dates: epoch milliseconds inside Accord, RFC 3339 with millisecond precision where the
//! contract asks for date-time strings (§1.3).
use chrono::{DateTime, SecondsFormat, Utc};

pub const DAY_MS: i64 = 86_400_000;

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2024-05-20T10:13:20.000Z`
pub fn to_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp with `Z` or an offset into epoch ms (truncated to ms).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    // chrono accepts a space instead of `T`; the contract does not.
    let b = s.as_bytes();
    if b.len() < 20 || !(b[10] == b'T' || b[10] == b't') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}
