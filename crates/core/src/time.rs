//! Dates as trackers write them, read into naive UTC.
//!
//! The rule, as the original importers applied it (docs/reference-behaviour.md §3): a text that
//! carries a UTC offset (or `Z`, `UTC`, `GMT`) is converted to UTC and the offset dropped; a text
//! without one keeps its wall-clock value. Numeric dates are read month first (`09/10/12` is
//! 2012-09-10). Other named zones (`PST`, `CET`) are ignored, as the original's parser did.
//!
//! ```
//! use bugimporters_core::time::{format_naive, parse_datetime};
//! let t = parse_datetime("2010-02-22T19:46:30-0500").unwrap();
//! assert_eq!(format_naive(&t), "2010-02-23T00:46:30");
//! let t = parse_datetime("Jun 16, 2006 3:01:52 PM").unwrap();
//! assert_eq!(format_naive(&t), "2006-06-16T15:01:52");
//! let t = parse_datetime("2011-11-22T09:22:59.899+1100").unwrap();
//! assert_eq!(format_naive(&t), "2011-11-21T22:22:59.899000");
//! ```

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};

/// Formats with an offset, tried first (after `Z`/`UTC`/`GMT` became `+0000`).
const WITH_OFFSET: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M:%S%.f %z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%d %H:%M%z",
    "%a, %d %b %Y %H:%M:%S %z",
    "%d %b %Y %H:%M:%S %z",
    "%b %d, %Y %I:%M:%S %p %z",
    "%m/%d/%Y %I:%M:%S %p %z",
    "%m/%d/%Y %H:%M:%S %z",
];

/// Formats without an offset: the wall-clock value is kept.
const NAIVE: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d.%H:%M:%S%.f",
    "%Y-%m-%d.%H:%M",
    // Two-digit years first: `%Y` would read `10` as the year 10.
    "%m/%d/%y %I:%M:%S %p",
    "%m/%d/%y %I:%M %p",
    "%m/%d/%y %H:%M:%S",
    "%m/%d/%y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%b %d, %Y %I:%M:%S %p",
    "%b %d, %Y %I:%M %p",
    "%b %d, %Y %H:%M:%S",
    "%b %d, %Y %H:%M",
    "%B %d, %Y %I:%M:%S %p",
    "%B %d, %Y %H:%M:%S",
    "%d %b %Y %H:%M:%S",
    "%d %B %Y %H:%M:%S",
    "%a, %d %b %Y %H:%M:%S",
    "%a %b %d %H:%M:%S %Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y%m%dT%H%M%S",
];

/// Date-only formats (midnight).
const DATE_ONLY: &[&str] = &["%Y-%m-%d", "%m/%d/%y", "%m/%d/%Y", "%b %d, %Y", "%B %d, %Y"];

/// Named zones that mean UTC; any other trailing alphabetic zone name is dropped.
const UTC_NAMES: &[&str] = &["Z", "UTC", "GMT", "UT"];

/// Parses a tracker's date text into naive UTC (see the module docs for the rule).
///
/// Returns `None` when no known format matches; callers turn that into a parse error naming
/// the URL.
pub fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (body, zone_is_utc) = split_zone_name(text);
    if zone_is_utc {
        let with = format!("{body} +0000");
        if let Some(t) = parse_with_offset(&with) {
            return Some(t);
        }
    }
    if let Some(t) = parse_with_offset(body) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.with_timezone(&Utc).naive_utc());
    }
    for f in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(body, f) {
            return Some(t);
        }
    }
    for f in DATE_ONLY {
        if let Ok(d) = NaiveDate::parse_from_str(body, f) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}

fn parse_with_offset(text: &str) -> Option<NaiveDateTime> {
    for f in WITH_OFFSET {
        if let Ok(t) = DateTime::parse_from_str(text, f) {
            return Some(t.with_timezone(&Utc).naive_utc());
        }
    }
    None
}

/// Splits a trailing zone name: `("2010-01-01 10:00", true)` for `... UTC` or `...Z`;
/// other alphabetic names (`PST`) are dropped with `false`.
fn split_zone_name(text: &str) -> (&str, bool) {
    if let Some(stripped) = text.strip_suffix('Z') {
        if stripped.ends_with(|c: char| c.is_ascii_digit()) {
            return (stripped, true);
        }
    }
    if let Some((head, last)) = text.rsplit_once(' ') {
        if UTC_NAMES.contains(&last) {
            return (head.trim_end(), true);
        }
        let is_am_pm = last.eq_ignore_ascii_case("am") || last.eq_ignore_ascii_case("pm");
        if !is_am_pm
            && (2..=5).contains(&last.len())
            && last.chars().all(|c| c.is_ascii_uppercase())
            && head.ends_with(|c: char| c.is_ascii_digit() || c == 'M')
        {
            return (head.trim_end(), false);
        }
    }
    (text, false)
}

/// Formats a naive UTC time as the output does: `2012-07-03T14:05:09`, with six fractional
/// digits only when the sub-second part is not zero.
pub fn format_naive(t: &NaiveDateTime) -> String {
    if t.nanosecond() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// A Unix time in seconds (Pagure's and Phabricator's dates) as naive UTC; `None` out of
/// chrono's range.
pub fn from_epoch_secs(secs: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc())
}

/// The current time as naive UTC, truncated to microseconds (what the output can hold).
pub fn now_naive() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

/// Serde helpers for `Option<NaiveDateTime>` in the output format (see [`format_naive`]);
/// reading accepts any text [`parse_datetime`] understands.
pub mod serde_opt {
    use super::{format_naive, parse_datetime};
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some(t)` as [`format_naive`] text (callers skip `None`).
    pub fn serialize<S: Serializer>(v: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_str(&format_naive(t)),
            None => s.serialize_none(),
        }
    }

    /// Reads a date text (or `null`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => parse_datetime(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("not a date: {}", crate::excerpt(&s)))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        format_naive(&parse_datetime(s).unwrap_or_else(|| panic!("cannot parse {s:?}")))
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(p("2010-02-22T19:46:30-0500"), "2010-02-23T00:46:30");
        assert_eq!(p("2011-07-08T09:55:21+03:00"), "2011-07-08T06:55:21");
        assert_eq!(p("2006-05-30 16:44:00 -0400"), "2006-05-30T20:44:00");
        assert_eq!(p("2012-03-12T19:24:42Z"), "2012-03-12T19:24:42");
        assert_eq!(
            p("2011-11-22T09:22:59.899+1100"),
            "2011-11-21T22:22:59.899000"
        );
        assert_eq!(
            p("2011-09-02T10:42:43.883929+00:00"),
            "2011-09-02T10:42:43.883929"
        );
        assert_eq!(p("Tue, 02 Mar 2010 12:00:00 GMT"), "2010-03-02T12:00:00");
        assert_eq!(p("2010-03-02 12:00:00 UTC"), "2010-03-02T12:00:00");
    }

    #[test]
    fn zone_less_texts_keep_wall_clock() {
        assert_eq!(p("2006-06-09 12:49"), "2006-06-09T12:49:00");
        assert_eq!(p("Jun 16, 2006 3:01:52 PM"), "2006-06-16T15:01:52");
        assert_eq!(p("02/22/2010 07:46:30 PM"), "2010-02-22T19:46:30");
        assert_eq!(p("06/19/10 08:15:37"), "2010-06-19T08:15:37");
        assert_eq!(p("11/01/26 11:04:00"), "2026-11-01T11:04:00");
        assert_eq!(p("2007-12-03.16:34"), "2007-12-03T16:34:00");
        assert_eq!(p("2026-11-21.20:38:46"), "2026-11-21T20:38:46");
        assert_eq!(p("11/13/2026 01:14 PM"), "2026-11-13T13:14:00");
        assert_eq!(p("Jun 10, 2010 09:49:27"), "2010-06-10T09:49:27");
        assert_eq!(p("2010-06-10 09:49:27 PST"), "2010-06-10T09:49:27");
        assert_eq!(p("2012-09-15"), "2012-09-15T00:00:00");
    }

    #[test]
    fn month_first_for_ambiguous_numeric_dates() {
        assert_eq!(p("09/10/12 00:00:00"), "2012-09-10T00:00:00");
        assert_eq!(p("09/10/2012 00:00:00"), "2012-09-10T00:00:00");
        assert_eq!(p("09/10/12"), "2012-09-10T00:00:00");
    }

    #[test]
    fn garbage_is_none() {
        for s in ["", "   ", "yesterday", "2010-13-45 99:99", "\u{0}"] {
            assert!(parse_datetime(s).is_none(), "{s:?}");
        }
    }
}
