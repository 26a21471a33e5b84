//! Timestamps: whole seconds, rendered as RFC 3339 UTC with a `Z` suffix (SPEC §2).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix seconds. The only time type the product exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    pub const fn unix(self) -> i64 {
        self.0
    }

    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc().unix_timestamp())
    }

    pub const fn plus_seconds(self, secs: i64) -> Self {
        Self(self.0 + secs)
    }

    pub const fn plus_days(self, days: i64) -> Self {
        Self(self.0 + days * 86_400)
    }

    /// Parses any RFC 3339 timestamp (any offset). A fractional second is rounded up, so
    /// that both `>= t` and `< t` keep their meaning on whole-second data.
    /// What a client is told when a field should have been a timestamp.
    pub const RFC3339_EXPECTED: &'static str = "must be an RFC 3339 timestamp, e.g. 2026-03-15T10:00:00Z";

    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let parsed = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let secs = parsed.unix_timestamp();
        Some(Self(if parsed.nanosecond() > 0 { secs + 1 } else { secs }))
    }

    pub fn to_rfc3339(self) -> String {
        let mut buf = [0u8; 20];
        self.write_rfc3339(&mut buf).to_owned()
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` into `buf`, without allocating: every API object carries a few
    /// timestamps, and formatting them through `format!` was a visible share of a list's cost.
    /// Years outside 0000–9999 (no clock or stored value has them) render as the epoch.
    fn write_rfc3339(self, buf: &mut [u8; 20]) -> &str {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let (year, month, day, secs) =
            if (0..=9999).contains(&year) { (year, month, day, secs) } else { (1970, 1, 1, 0) };
        let digits = |buf: &mut [u8; 20], at: usize, value: i64, width: usize| {
            let mut v = value;
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        digits(buf, 0, year, 4);
        buf[4] = b'-';
        digits(buf, 5, month, 2);
        buf[7] = b'-';
        digits(buf, 8, day, 2);
        buf[10] = b'T';
        digits(buf, 11, secs / 3600, 2);
        buf[13] = b':';
        digits(buf, 14, secs / 60 % 60, 2);
        buf[16] = b':';
        digits(buf, 17, secs % 60, 2);
        buf[19] = b'Z';
        std::str::from_utf8(buf).unwrap_or("1970-01-01T00:00:00Z")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 20];
        s.serialize_str(self.write_rfc3339(&mut buf))
    }
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic Gregorian; Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_rfc3339(&s).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 timestamp"))
    }
}

/// Where "now" comes from, so rules that depend on time can be tested without waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// Now in unix microseconds: the rate limit's clock (SPEC §10), finer than the
    /// whole seconds of timestamps.
    fn now_micros(&self) -> i64 {
        self.now().unix() * 1_000_000
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn now_micros(&self) -> i64 {
        system_micros()
    }
}

fn system_micros() -> i64 {
    let since_epoch = OffsetDateTime::now_utc() - OffsetDateTime::UNIX_EPOCH;
    i64::try_from(since_epoch.whole_microseconds()).unwrap_or(i64::MAX)
}

/// A clock tests move by hand. Its seconds stand still until moved; its microseconds (the
/// rate limit's clock, which paces real sends) run on with the system's from its start,
/// plus every move made.
#[derive(Debug)]
pub struct ManualClock {
    secs: AtomicI64,
    start_secs: i64,
    started_us: i64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self { secs: AtomicI64::new(start.unix()), start_secs: start.unix(), started_us: system_micros() }
    }

    pub fn advance(&self, secs: i64) {
        self.secs.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.secs.store(t.unix(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.secs.load(Ordering::SeqCst))
    }

    fn now_micros(&self) -> i64 {
        let moved_us = (self.secs.load(Ordering::SeqCst) - self.start_secs) * 1_000_000;
        self.start_secs * 1_000_000 + (system_micros() - self.started_us) + moved_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_keeps_its_seconds_and_runs_its_microseconds() {
        let clock = ManualClock::new(Timestamp::from_unix(1_000));
        let first = clock.now_micros();
        assert!((1_000_000_000..1_000_500_000).contains(&first), "{first}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = clock.now_micros();
        assert!(later - first >= 20_000, "it runs with the system's");
        assert_eq!(clock.now(), Timestamp::from_unix(1_000), "the seconds stand still");
        clock.advance(60);
        assert!(clock.now_micros() - later >= 60_000_000, "and moves with the clock");
    }

    /// The fast formatter against the `time` crate, over leap days, century rules and the
    /// range of any real timestamp.
    #[test]
    fn formatting_agrees_with_the_time_crate() {
        let reference = |secs: i64| {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        let mut secs: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
        while secs < 253_402_300_799 {
            assert_eq!(Timestamp::from_unix(secs).to_rfc3339(), reference(secs), "{secs}");
            secs += 86_399 * 7 + 3_607;
        }
        for secs in [951_782_400, 951_868_799, 4_107_542_400, 1_709_208_000, 253_402_300_799, -1, 0] {
            assert_eq!(Timestamp::from_unix(secs).to_rfc3339(), reference(secs), "{secs}");
            assert_eq!(serde_json::to_value(Timestamp::from_unix(secs)).unwrap(), reference(secs));
        }
        assert_eq!(Timestamp::from_unix(i64::MAX / 2).to_rfc3339(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn renders_whole_seconds_with_z() {
        assert_eq!(Timestamp::from_unix(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_unix(1_773_568_934).to_rfc3339(), "2026-03-15T10:02:14Z");
    }

    #[test]
    fn parses_offsets_and_rounds_fractions_up() {
        let t = Timestamp::parse_rfc3339("2026-03-15T10:02:14Z").unwrap();
        assert_eq!(t.unix(), 1_773_568_934);
        let offset = Timestamp::parse_rfc3339("2026-03-15T12:02:14+02:00").unwrap();
        assert_eq!(offset, t);
        let frac = Timestamp::parse_rfc3339("2026-03-15T10:02:14.2Z").unwrap();
        assert_eq!(frac.unix(), t.unix() + 1);
    }

    #[test]
    fn refuses_non_rfc3339() {
        for bad in ["", "yesterday", "2026-03-15", "2026-03-15 10:02:14", "1773568934"] {
            assert!(Timestamp::parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let t = Timestamp::from_unix(1_700_000_000);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn manual_clock_moves() {
        let clock = ManualClock::new(Timestamp::from_unix(10));
        clock.advance(5);
        assert_eq!(clock.now().unix(), 15);
        clock.set(Timestamp::from_unix(1));
        assert_eq!(clock.now().unix(), 1);
    }
}
