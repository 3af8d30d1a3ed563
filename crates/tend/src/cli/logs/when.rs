//! The times of `tend logs --since/--until` and the time range they make, read and
//! applied with "now" passed in, so every rule here is a table test.
//!
//! A time is one of:
//! - an RFC 3339 time: `2026-11-30T04:00:00Z`, `2026-11-30T05:00:00+01:00`;
//! - a date and time without an offset, taken as UTC like every time tend writes (the
//!   line timestamps, the rotated file names): `2026-11-30 04:00`, `2026-11-30T04:00:30`,
//!   or a date alone (`2026-11-30`, midnight UTC);
//! - a duration ago: `10m`, `2h`, `1h 30m`, `3days` (humantime's units), or `now`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a `--since`/`--until` value is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    /// Neither a time nor a duration.
    #[error("`{0}` is not a time: write an RFC 3339 time (2026-11-30T04:00:00Z), a UTC date and time (2026-11-30 04:00), or a duration ago (10m, 2h)")]
    Unreadable(String),
    /// Shaped like a date and time, with a field out of range.
    #[error("`{text}` is not a valid time: {why}")]
    Invalid {
        /// What was given.
        text: String,
        /// Which field is wrong.
        why: &'static str,
    },
    /// A duration reaching back before 1970.
    #[error("`{0}` ago is before 1970")]
    TooLongAgo(String),
}

/// Reads a `--since`/`--until` value at `now`.
pub fn parse_when(text: &str, now: SystemTime) -> Result<SystemTime, WhenError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if t.starts_with(|c: char| c.is_ascii_digit()) && t.len() >= 10 && t.as_bytes()[4] == b'-' {
        return parse_date_time(t).map_err(|why| WhenError::Invalid {
            text: text.to_string(),
            why,
        });
    }
    let ago = t.strip_suffix("ago").map_or(t, str::trim_end);
    match humantime::parse_duration(ago) {
        Ok(d) => now
            .checked_sub(d)
            .filter(|t| *t >= UNIX_EPOCH)
            .ok_or_else(|| WhenError::TooLongAgo(ago.to_string())),
        Err(_) => Err(WhenError::Unreadable(text.to_string())),
    }
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]][Z|±HH:MM]]`, UTC unless an offset says
/// otherwise.
fn parse_date_time(t: &str) -> Result<SystemTime, &'static str> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = t.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    const SHAPE: &str = "expected YYYY-MM-DD, then optionally HH:MM[:SS] and Z or ±HH:MM";
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(SHAPE);
    };
    if b[7] != b'-' {
        return Err(SHAPE);
    }
    if !(1..=12).contains(&month) {
        return Err("the month is not 01 to 12");
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err("that month has no such day");
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut nanos = 0u32;
    let mut rest = &t[10..];
    if !rest.is_empty() {
        let Some(r) = rest.strip_prefix(['T', 't', ' ']) else {
            return Err(SHAPE);
        };
        let hm = |s: &str| -> Option<u32> {
            (s.len() == 2 && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let (Some(h), Some(m)) = (r.get(0..2).and_then(hm), r.get(3..5).and_then(hm)) else {
            return Err(SHAPE);
        };
        if r.as_bytes()[2] != b':' {
            return Err(SHAPE);
        }
        if h > 23 {
            return Err("the hour is not 00 to 23");
        }
        if m > 59 {
            return Err("the minute is not 00 to 59");
        }
        secs += i64::from(h * 3600 + m * 60);
        rest = &r[5..];
        if let Some(r) = rest.strip_prefix(':') {
            let Some(s) = r.get(0..2).and_then(hm) else {
                return Err(SHAPE);
            };
            if s > 59 {
                return Err("the second is not 00 to 59");
            }
            secs += i64::from(s);
            rest = &r[2..];
            if let Some(r) = rest.strip_prefix(['.', ',']) {
                let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return Err(SHAPE);
                }
                let frac = &r[..digits.min(9)];
                nanos = frac.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - frac.len() as u32);
                rest = &r[digits..];
            }
        }
        match rest {
            "" | "Z" | "z" => {}
            _ => {
                let sign = match rest.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return Err(SHAPE),
                };
                const OFFSET: &str = "the offset is not ±HH:MM";
                let o = &rest[1..];
                if o.len() != 5 || o.as_bytes()[2] != b':' {
                    return Err(OFFSET);
                }
                let (Some(oh), Some(om)) = (o.get(0..2).and_then(hm), o.get(3..5).and_then(hm))
                else {
                    return Err(OFFSET);
                };
                if oh > 23 || om > 59 {
                    return Err(OFFSET);
                }
                // 05:00+01:00 is 04:00 UTC.
                secs -= sign * i64::from(oh * 3600 + om * 60);
            }
        }
    }
    let at = u64::try_from(secs).map_err(|_| "it is before 1970")?;
    Ok(UNIX_EPOCH + Duration::new(at, nanos))
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: u32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The timestamp `log.timestamps = true` puts at the start of a line
/// (`2026-11-30T04:00:00.123Z `), if the line has one.
pub fn line_stamp(line: &[u8]) -> Option<SystemTime> {
    let head = line.get(..24)?;
    if line.get(24) != Some(&b' ') || head[23] != b'Z' {
        return None;
    }
    humantime::parse_rfc3339(std::str::from_utf8(head).ok()?).ok()
}

/// The time range of `--since` (included) and `--until` (excluded); either end may be
/// open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// The first moment shown.
    pub since: Option<SystemTime>,
    /// The first moment no longer shown.
    pub until: Option<SystemTime>,
}

impl Range {
    /// Whether the range is everything (no `--since`, no `--until`).
    pub fn is_all(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Whether `t` is in the range.
    pub fn contains(&self, t: SystemTime) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

    /// Whether a file whose lines were written after `start` (unknown: any time before)
    /// and up to `end` (unknown: up to now) may hold lines in the range.
    pub fn overlaps(&self, start: Option<SystemTime>, end: Option<SystemTime>) -> bool {
        let ends_before = matches!((end, self.since), (Some(e), Some(s)) if e < s);
        let starts_after = matches!((start, self.until), (Some(st), Some(u)) if st >= u);
        !ends_before && !starts_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn times_read_as_documented() {
        let now = at("2026-11-30T05:00:00Z");
        for (text, want) in [
            ("2026-11-30T04:00:00Z", "2026-11-30T04:00:00Z"),
            ("2026-11-30t04:00:00z", "2026-11-30T04:00:00Z"),
            ("2026-11-30T05:30:00+01:30", "2026-11-30T04:00:00Z"),
            ("2026-11-29T23:00:00-05:00", "2026-11-30T04:00:00Z"),
            ("2026-11-30T04:00:00.250Z", "2026-11-30T04:00:00.250Z"),
            ("2026-11-30T04:00:00,5Z", "2026-11-30T04:00:00.500Z"),
            ("2026-11-30 04:00", "2026-11-30T04:00:00Z"),
            ("2026-11-30 04:00:07", "2026-11-30T04:00:07Z"),
            ("2026-11-30T04:00", "2026-11-30T04:00:00Z"),
            ("2026-11-30", "2026-11-30T00:00:00Z"),
            ("2024-02-29", "2024-02-29T00:00:00Z"),
            ("2000-03-01 00:00", "2000-03-01T00:00:00Z"),
            ("1970-01-01", "1970-01-01T00:00:00Z"),
            ("10m", "2026-11-30T04:50:00Z"),
            ("2h", "2026-11-30T03:00:00Z"),
            ("1h 30m", "2026-11-30T03:30:00Z"),
            ("90s ago", "2026-11-30T04:58:30Z"),
            ("1day", "2026-11-29T05:00:00Z"),
            ("now", "2026-11-30T05:00:00Z"),
            (" 10m ", "2026-11-30T04:50:00Z"),
        ] {
            assert_eq!(parse_when(text, now), Ok(at(want)), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_time_says_why() {
        let now = at("2026-11-30T05:00:00Z");
        for (text, why) in [
            ("yesterday", None),
            ("", None),
            ("10 parsecs", None),
            ("2026-13-01", Some("the month is not 01 to 12")),
            ("2026-02-29", Some("that month has no such day")),
            ("2026-04-31 00:00", Some("that month has no such day")),
            ("2026-11-30 24:00", Some("the hour is not 00 to 23")),
            ("2026-11-30 04:60", Some("the minute is not 00 to 59")),
            ("2026-11-30 04:00:61", Some("the second is not 00 to 59")),
            ("2026-11-30 4:00", None),
            ("2026-11-30T04:00:00+0100", Some("the offset is not ±HH:MM")),
            (
                "2026-11-30T04:00:00+25:00",
                Some("the offset is not ±HH:MM"),
            ),
            ("2026-11-30T04:00:00 UTC", None),
            ("2026/11/30", None),
            ("2026-11-30X04:00", None),
            ("2026-11-30T04:00:00.Z", None),
        ] {
            let got = parse_when(text, now).unwrap_err();
            match why {
                Some(w) => assert_eq!(
                    got,
                    WhenError::Invalid {
                        text: text.into(),
                        why: w
                    },
                    "{text}"
                ),
                None => assert!(
                    matches!(got, WhenError::Unreadable(_) | WhenError::Invalid { .. }),
                    "{text}: {got:?}"
                ),
            }
            assert!(got.to_string().contains(text), "{got}");
        }
        assert!(matches!(
            parse_when("100000days", now),
            Err(WhenError::TooLongAgo(_))
        ));
    }

    #[test]
    fn line_stamps_are_what_the_writer_writes() {
        let t = at("2026-11-30T04:00:00.123Z");
        let written = format!("{} hello", humantime::format_rfc3339_millis(t));
        assert_eq!(line_stamp(written.as_bytes()), Some(t));
        for line in [
            "hello",
            "",
            "2026-11-30T04:00:00.123Z",
            "2026-11-30T04:00:00.123Zhello",
            "2026-11-30T04:00:00.123+ hello",
            "2026-11-30T04:00:00Z hello",
            "2026-13-30T04:00:00.123Z hello",
        ] {
            assert_eq!(line_stamp(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn ranges_include_since_and_exclude_until() {
        let (a, b, c) = (
            at("2026-11-30T01:00:00Z"),
            at("2026-11-30T02:00:00Z"),
            at("2026-11-30T03:00:00Z"),
        );
        let r = Range {
            since: Some(a),
            until: Some(b),
        };
        assert!(r.contains(a));
        assert!(!r.contains(b));
        assert!(!r.contains(a - Duration::from_millis(1)));
        assert!(Range::default().contains(c) && Range::default().is_all());
        // Files: (written after, written up to).
        for (start, end, want) in [
            (None, None, true),
            (None, Some(a), true),                             // ends at since
            (None, Some(a - Duration::from_millis(1)), false), // ends before since
            (Some(a), Some(c), true),
            (Some(b), Some(c), false), // starts at until
            (Some(b - Duration::from_millis(1)), None, true),
            (Some(c), None, false),
        ] {
            assert_eq!(r.overlaps(start, end), want, "{start:?} {end:?}");
        }
        let since_only = Range {
            since: Some(b),
            until: None,
        };
        assert!(since_only.overlaps(Some(c), None));
        assert!(!since_only.overlaps(None, Some(a)));
    }
}
