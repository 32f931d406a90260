//! What every `--ecs` document shares, so capls and capscan speak the same Elastic Common Schema: the
//! `@timestamp`, `ecs`, `event` and `host` fields, capability names as ECS spells them, and text for
//! keyword fields. Log pipelines (Filebeat, Vector, Fluent Bit, Splunk) take the NDJSON as it is.
//!
//! Every field a document carries is checked against ECS's own field reference by tests/ecs.rs; what ECS
//! has no field for lives under `capkit.`, in the same `{"hex", "caps"}` form as `--json`.

use std::time::{SystemTime, UNIX_EPOCH};

use capcore::CapSet;
use serde::Serialize;

use crate::ExternalBytes;

/// The ECS version the documents declare: the first with `process.thread.capabilities.*` (8.10). Every
/// field capkit writes has the same name and type there and in 9.4, and the tests check both.
pub const ECS_VERSION: &str = "8.10.0";

/// `event.module`: the tool set that wrote the document; `event.dataset` is `capkit.<tool>`.
pub const MODULE: &str = "capkit";

/// The fields every document opens with; flattened into each tool's document.
#[derive(Clone, Debug, Serialize)]
pub struct Header {
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    pub ecs: Ecs,
    pub event: Event,
    pub host: Host,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ecs {
    pub version: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub kind: &'static str,
    pub category: [&'static str; 1],
    #[serde(rename = "type")]
    pub kind_of_change: [&'static str; 1],
    pub module: &'static str,
    pub dataset: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Host {
    pub name: String,
}

impl Header {
    /// A `state` event of `category` (ECS's `process`, `file`, ...), `type: info`, read at `read_at`.
    pub fn state(tool: &str, category: &'static str, read_at: SystemTime) -> Header {
        Header {
            timestamp: timestamp(read_at),
            ecs: Ecs {
                version: ECS_VERSION,
            },
            event: Event {
                kind: "state",
                category: [category],
                kind_of_change: ["info"],
                module: MODULE,
                dataset: format!("{MODULE}.{tool}"),
            },
            host: Host { name: host_name() },
        }
    }
}

/// RFC 3339 in UTC with milliseconds (`2026-12-01T14:21:50.123Z`), as Elastic's `date` type reads it.
pub fn timestamp(at: SystemTime) -> String {
    let millis: i128 = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_millis() as i128,
        Err(before) => -(before.duration().as_millis() as i128),
    };
    let secs = millis.div_euclid(1000) as i64;
    let ms = millis.rem_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01: Howard Hinnant's `civil_from_days`,
/// which counts in 400-year eras starting on March 1st so that leap days fall at the end of a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The host's name as uname(2) gives it (the UTS namespace's nodename).
pub fn host_name() -> String {
    text(rustix::system::uname().nodename().to_bytes())
}

/// A capability set as ECS writes `process.thread.capabilities.*`: upper-case `CAP_*` names, and the
/// decimal number for a bit no kernel names yet (ECS's pattern `^(CAP_[A-Z_]+|\d+)$`).
pub fn cap_names(set: CapSet) -> Vec<String> {
    set.iter()
        .map(|cap| match cap.name() {
            Some(name) => name.to_ascii_uppercase(),
            None => cap.bit().to_string(),
        })
        .collect()
}

/// Outside bytes for a keyword field, which must be a string: as they are when UTF-8, with U+FFFD for
/// bytes that are not (pair with `exact` to keep those bytes). The JSON writer escapes what is unsafe.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exact bytes, for a `capkit.*` field, when `text` could not keep them: `None` for UTF-8.
pub fn exact(bytes: &[u8]) -> Option<ExternalBytes> {
    std::str::from_utf8(bytes)
        .is_err()
        .then(|| ExternalBytes(bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(millis: i64) -> SystemTime {
        let d = Duration::from_millis(millis.unsigned_abs());
        if millis >= 0 {
            UNIX_EPOCH + d
        } else {
            UNIX_EPOCH - d
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(at(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(at(951_782_400_123)), "2000-02-29T00:00:00.123Z");
        assert_eq!(timestamp(at(1_796_142_110_007)), "2026-12-01T16:21:50.007Z");
        assert_eq!(timestamp(at(4_107_542_399_999)), "2100-02-28T23:59:59.999Z");
        assert_eq!(timestamp(at(4_107_542_400_000)), "2100-03-01T00:00:00.000Z");
        assert_eq!(timestamp(at(-1)), "1969-12-31T23:59:59.999Z");
    }

    /// Every day from 1600 to 2400 against a plain day-by-day count.
    #[test]
    fn civil_dates_count_every_day() {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_days = |y: i64, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let start = -135_140; // 1600-01-01
        let (mut y, mut m, mut d) = (1600i64, 1u32, 1u32);
        for days in start..start + 800 * 366 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            d += 1;
            if d > month_days(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn capability_names_are_upper_case_or_numbers() {
        let set = CapSet::from_bits((1 << 13) | (1 << 40) | (1 << 63));
        assert_eq!(
            cap_names(set),
            ["CAP_NET_RAW", "CAP_CHECKPOINT_RESTORE", "63"]
        );
        assert!(cap_names(CapSet::EMPTY).is_empty());
    }

    #[test]
    fn text_keeps_what_it_cannot_show() {
        assert_eq!(text(b"nginx"), "nginx");
        assert_eq!(exact(b"nginx"), None);
        assert_eq!(text(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(exact(b"a\xffb"), Some(ExternalBytes(b"a\xffb".to_vec())));
    }
}
