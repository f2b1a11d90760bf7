//! Dates: epoch milliseconds inside Accord, RFC 3339 with millisecond precision where the
//! contract asks for date-time strings (§1.3).
use chrono::{DateTime, SecondsFormat, Utc};

pub const DAY_MS: i64 = 86_400_000;

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2024-05-20T10:13:20.000Z`
pub fn to_rfc3339(ms: i64) -> String {
    let mut buf = [0; STAMP_LEN];
    match write_rfc3339(ms, &mut buf) {
        Some(s) => s.to_string(),
        None => chrono_rfc3339(ms),
    }
}

/// What chrono writes for [`to_rfc3339`], for any year.
fn chrono_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The length of `2024-05-20T10:13:20.000Z`.
pub const STAMP_LEN: usize = 24;

/// [`to_rfc3339`] written into `buf`, for the years 0 to 9999 (`None` for the others,
/// which chrono writes with a sign). Answers write thousands of dates; this one neither
/// allocates nor goes through a formatter.
pub fn write_rfc3339(ms: i64, buf: &mut [u8; STAMP_LEN]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let t = DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .naive_utc();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let put = |buf: &mut [u8; STAMP_LEN], at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(buf, 0, 4, year);
    buf[4] = b'-';
    put(buf, 5, 2, t.month());
    buf[7] = b'-';
    put(buf, 8, 2, t.day());
    buf[10] = b'T';
    put(buf, 11, 2, t.hour());
    buf[13] = b':';
    put(buf, 14, 2, t.minute());
    buf[16] = b':';
    put(buf, 17, 2, t.second());
    buf[19] = b'.';
    put(buf, 20, 3, t.nanosecond() / 1_000_000);
    buf[23] = b'Z';
    std::str::from_utf8(buf).ok()
}

/// Serializes epoch milliseconds as [`to_rfc3339`] does, without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Stamp(pub i64);

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; STAMP_LEN];
        match write_rfc3339(self.0, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&chrono_rfc3339(self.0)),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer gives chrono's text for every instant, and chrono's own for the years it
    /// leaves to chrono.
    #[test]
    fn stamps_are_written_as_chrono_writes_them() {
        let mut values = vec![
            0,
            -1,
            1,
            999,
            -86_400_000,
            951_782_400_000,     // 2000-02-29
            1_709_164_799_999,   // 2024-02-28T23:59:59.999
            -62_167_219_200_000, // 0000-01-01
            -62_167_219_200_001, // year -1
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // 10000-01-01
            i64::MIN,
            i64::MAX,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push((x % 320_000_000_000_000) as i64 - 64_000_000_000_000);
        }
        for ms in values {
            let want = chrono_rfc3339(ms);
            assert_eq!(to_rfc3339(ms), want, "{ms}");
            assert_eq!(
                serde_json::to_string(&Stamp(ms)).unwrap(),
                serde_json::to_string(&want).unwrap(),
                "{ms}"
            );
        }
    }
}
