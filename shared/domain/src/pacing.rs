//! The rate limit per subscription (SPEC §10): at most `rate_limit × (T + 1)` attempts start
//! in any window of T ≥ 1 seconds, measured at the receiver, across every worker.
//!
//! The rule is the generic cell rate algorithm (GCRA, the virtual-scheduling form of a
//! token bucket) over one shared number per subscription, its *theoretical arrival time*
//! `tat`: cell k may start once `now ≥ tat − tolerance`, and moves `tat` one emission
//! interval on. Taking n cells at once is one step — `tat := max(tat, now) + n × interval` —
//! so a worker takes a whole batch's cells for a subscription in one conditional write, and
//! each cell's start time follows from the value written:
//!
//! ```text
//! base = new_tat − n × interval;  start(j) = max(now, base + j × interval − tolerance)
//! ```
//!
//! Why the bound holds: any m + 1 cells planned this way span at least `m × interval −
//! tolerance`, so a window of T seconds holds at most `(T + tolerance + jitter) / interval`
//! starts plus one, where `jitter` is how much later or earlier the receiver sees a start than
//! planned (the network, a worker's timer). [`Pacing::of`] picks `interval` and `tolerance`
//! so that this stays within `rate × (T + 1)` for every T ≥ 1 with [`NETWORK_ALLOWANCE_US`]
//! of jitter: the full rate for limits of 2 and more (with a burst of up to about 80 % of a
//! second's worth), and a limit of 1 sent every 1.2 s.

use serde::{Deserialize, Serialize};

/// The most deliveries per second a subscription may ask for.
pub const MAX_RATE_LIMIT: u32 = 10_000;
/// `HOOKPOST_DEFAULT_RATE_LIMIT`'s default: what a new subscription gets when its create
/// request names none.
pub const DEFAULT_RATE_LIMIT: u32 = 100;
/// How far a start may drift between the plan and the receiver's clock (the network, the
/// worker's timer, a reserved start taken a little late) with the bound still holding.
pub const NETWORK_ALLOWANCE_US: i64 = 200_000;
/// How late a worker may still use a start it reserved earlier (a deferred task arriving
/// after its time): half the allowance, the other half left to the network.
pub const LATE_START_GRACE_US: i64 = NETWORK_ALLOWANCE_US / 2;

const SECOND_US: i64 = 1_000_000;

/// Deliveries per second to one subscription's URL: 1 to [`MAX_RATE_LIMIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RateLimit(u32);

impl RateLimit {
    pub fn new(per_second: u32) -> Option<Self> {
        (1..=MAX_RATE_LIMIT).contains(&per_second).then_some(Self(per_second))
    }

    pub fn per_second(self) -> u32 {
        self.0
    }

    /// `HOOKPOST_DEFAULT_RATE_LIMIT`: a limit, or `0` for none.
    pub fn parse_default(s: &str) -> Result<Option<Self>, String> {
        match s.trim().parse::<u32>() {
            Ok(0) => Ok(None),
            Ok(n) => Self::new(n).map(Some).ok_or_else(|| format!("{n} is above {MAX_RATE_LIMIT}")),
            Err(_) => Err(format!("`{s}` is not a whole number of deliveries per second (0 for none)")),
        }
    }

    pub fn pacing(self) -> Pacing {
        Pacing::of(self)
    }
}

/// The GCRA parameters of one rate limit, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// Between two cells' theoretical times.
    pub interval_us: i64,
    /// How far ahead of its theoretical time a cell may start: the burst.
    pub tolerance_us: i64,
}

impl Pacing {
    pub fn of(limit: RateLimit) -> Self {
        let rate = i64::from(limit.per_second());
        if rate == 1 {
            // One a second leaves nothing for jitter at the full rate: m + 1 starts at exact
            // one-second steps fit a window of m seconds, whose bound is m + 1, and any
            // earlier arrival breaks it. Spacing them by 1 s plus the allowance keeps it.
            return Self { interval_us: SECOND_US + NETWORK_ALLOWANCE_US, tolerance_us: 0 };
        }
        // Rounded up: never faster than the rate over a long window.
        let interval_us = (SECOND_US + rate - 1) / rate;
        // (T + tolerance + jitter) / interval + 1 ≤ rate × (T + 1) for every T ≥ 1: with
        // interval ≥ 1 / rate the left side grows no faster than the right, so T = 1 decides,
        // and tolerance ≤ (rate − 1) × interval − jitter satisfies it.
        let tolerance_us = ((rate - 1) * interval_us - NETWORK_ALLOWANCE_US).max(0);
        Self { interval_us, tolerance_us }
    }

    /// Takes `n` cells at `now_us` from a limiter whose `tat` is as given (`None`: never
    /// used, or forgotten): the value to write, and each cell's start time, earliest first.
    pub fn reserve(&self, tat: Option<i64>, now_us: i64, n: u32) -> Reservation {
        let base = tat.map_or(now_us, |tat| tat.max(now_us));
        let new_tat = base + i64::from(n) * self.interval_us;
        Reservation { new_tat, starts: self.starts(new_tat, n, now_us) }
    }

    /// The start times of the `n` cells a reservation that left `new_tat` took at `now_us`.
    pub fn starts(&self, new_tat: i64, n: u32, now_us: i64) -> Vec<i64> {
        let base = new_tat - i64::from(n) * self.interval_us;
        (0..i64::from(n)).map(|j| now_us.max(base + j * self.interval_us - self.tolerance_us)).collect()
    }

    /// How many cells taken at `now_us` would all start within `max_wait_us`.
    pub fn cells_within(&self, tat: Option<i64>, now_us: i64, max_wait_us: i64) -> u32 {
        let base = tat.map_or(now_us, |tat| tat.max(now_us));
        // The j-th cell starts at base + j × interval − tolerance.
        let room = now_us + max_wait_us + self.tolerance_us - base;
        if room < 0 {
            return 0;
        }
        u32::try_from(room / self.interval_us + 1).unwrap_or(u32::MAX)
    }

    /// The largest `tat` at which `n` more cells would all start within `max_wait_us` of
    /// `now_us`: the bound of the conditional addition that takes them.
    pub fn latest_tat_for(&self, now_us: i64, n: u32, max_wait_us: i64) -> i64 {
        now_us + max_wait_us + self.tolerance_us - i64::from(n.saturating_sub(1)) * self.interval_us
    }

    /// When the limiter, at `tat`, has a cell that starts at once again.
    pub fn next_free_at(&self, tat: i64) -> i64 {
        tat - self.tolerance_us
    }
}

/// What taking cells writes and what it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The limiter's `tat` after the take.
    pub new_tat: i64,
    /// Each cell's start time (unix microseconds), earliest first.
    pub starts: Vec<i64>,
}

/// What a worker does with a delivery whose start under the rate limit is `start_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// Now.
    Now,
    /// After this many microseconds: the worker waits.
    After(i64),
    /// Further away than a worker waits: the task goes back to the queue, due this many
    /// whole seconds from now, holding its start (`paced_at`), and waits for it there.
    Defer { delay_secs: u64 },
}

/// The longest a worker holds a delivery waiting for its start before it defers it: the
/// time an SQS-delayed task may arrive early (SQS delays in whole seconds, Lambda's
/// one-second batching window) and then some.
pub const MAX_START_WAIT_US: i64 = 3 * SECOND_US;
/// A deferred task is due this much before its start, so that it arrives in time.
pub const DEFER_LEAD_US: i64 = 2 * SECOND_US;

/// When a delivery with start `start_us` goes, seen at `now_us`.
pub fn start_at(start_us: i64, now_us: i64) -> StartAt {
    let wait = start_us - now_us;
    if wait <= 0 {
        StartAt::Now
    } else if wait <= MAX_START_WAIT_US {
        StartAt::After(wait)
    } else {
        StartAt::Defer { delay_secs: u64::try_from((wait - DEFER_LEAD_US) / SECOND_US).unwrap_or(0).max(1) }
    }
}

/// Whether a start reserved earlier may still be used at `now_us`: not more than
/// [`LATE_START_GRACE_US`] after it (a later start would crowd the cells after it).
pub fn reserved_start_usable(paced_at_us: i64, now_us: i64) -> bool {
    now_us <= paced_at_us + LATE_START_GRACE_US
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32) -> RateLimit {
        RateLimit::new(n).unwrap()
    }

    #[test]
    fn limits_are_one_to_ten_thousand_and_zero_means_none_by_default() {
        assert_eq!(RateLimit::new(0), None);
        assert_eq!(RateLimit::new(10_001), None);
        assert_eq!(RateLimit::new(10_000).map(RateLimit::per_second), Some(10_000));
        assert_eq!(RateLimit::parse_default("0"), Ok(None));
        assert_eq!(RateLimit::parse_default(" 100 "), Ok(Some(limit(100))));
        assert!(RateLimit::parse_default("10001").is_err());
        assert!(RateLimit::parse_default("-1").is_err());
        assert!(RateLimit::parse_default("fast").is_err());
    }

    #[test]
    fn parameters_leave_the_network_its_allowance() {
        assert_eq!(Pacing::of(limit(1)), Pacing { interval_us: 1_200_000, tolerance_us: 0 });
        assert_eq!(Pacing::of(limit(2)), Pacing { interval_us: 500_000, tolerance_us: 300_000 });
        assert_eq!(Pacing::of(limit(20)), Pacing { interval_us: 50_000, tolerance_us: 750_000 });
        assert_eq!(Pacing::of(limit(100)), Pacing { interval_us: 10_000, tolerance_us: 790_000 });
        assert_eq!(Pacing::of(limit(10_000)), Pacing { interval_us: 100, tolerance_us: 799_900 });
        assert_eq!(Pacing::of(limit(3)).interval_us, 333_334, "rounded up, never faster than the rate");
        for n in [1, 2, 3, 7, 20, 99, 100, 333, 1000, 9999, 10_000] {
            let p = Pacing::of(limit(n));
            assert!(p.interval_us * i64::from(n) <= 1_200_000 && p.interval_us > 0, "{n}: {p:?}");
            assert!(p.tolerance_us >= 0);
        }
    }

    #[test]
    fn a_take_on_an_idle_limiter_starts_a_burst_then_paces() {
        let p = Pacing::of(limit(20));
        let now = 1_000_000_000;
        let r = p.reserve(None, now, 20);
        assert_eq!(r.new_tat, now + 20 * 50_000);
        // Cells whose theoretical time is within the tolerance start at once: 16 of them
        // (0..=15 × 50 ms ≤ 750 ms), then one every 50 ms.
        let at_once = r.starts.iter().filter(|s| **s == now).count();
        assert_eq!(at_once, 16);
        assert_eq!(r.starts[16], now + 50_000);
        assert_eq!(r.starts[19], now + 200_000);
        // A limiter whose tat is in the past is idle: the same as a new one.
        assert_eq!(p.reserve(Some(now - 5_000_000), now, 20), r);
    }

    #[test]
    fn a_busy_limiter_continues_where_it_left_off() {
        let p = Pacing::of(limit(10));
        let now = 50_000_000;
        let first = p.reserve(None, now, 10);
        let second = p.reserve(Some(first.new_tat), now, 5);
        assert_eq!(second.new_tat, first.new_tat + 5 * 100_000);
        assert_eq!(second.starts, p.starts(second.new_tat, 5, now));
        assert!(second.starts[0] > *first.starts.last().unwrap());
        assert_eq!(second.starts[0] - first.starts.last().unwrap(), 100_000);
    }

    #[test]
    fn cells_within_a_wait_and_the_bound_of_their_addition_agree() {
        let p = Pacing::of(limit(10));
        let now = 7_000_000;
        // An idle limiter: the burst (700 ms of tolerance at 100 ms a cell), and its first cell.
        assert_eq!(p.cells_within(None, now, 0), 8);
        for tat in [None, Some(now - 1), Some(now), Some(now + 350_000), Some(now + 5_000_000)] {
            for wait in [0, 250_000, 1_000_000, 3_000_000] {
                let n = p.cells_within(tat, now, wait);
                if n > 0 {
                    let r = p.reserve(tat, now, n);
                    assert!(*r.starts.last().unwrap() <= now + wait, "{tat:?} {wait}: {n} cells");
                    let more = p.reserve(tat, now, n + 1);
                    assert!(*more.starts.last().unwrap() > now + wait, "{tat:?} {wait}: {n} is the most");
                    if let Some(tat) = tat.filter(|t| *t >= now) {
                        assert!(tat <= p.latest_tat_for(now, n, wait));
                        assert!(tat > p.latest_tat_for(now, n + 1, wait));
                    }
                }
            }
        }
        assert_eq!(p.cells_within(Some(now + 5_000_000), now, 1_000_000), 0);
    }

    #[test]
    fn where_a_start_goes() {
        assert_eq!(start_at(10, 10), StartAt::Now);
        assert_eq!(start_at(5, 10), StartAt::Now);
        assert_eq!(start_at(1_010, 10), StartAt::After(1_000));
        assert_eq!(start_at(3_000_010, 10), StartAt::After(3_000_000));
        assert_eq!(start_at(3_000_011, 10), StartAt::Defer { delay_secs: 1 });
        assert_eq!(start_at(60_000_000, 0), StartAt::Defer { delay_secs: 58 });
        assert!(reserved_start_usable(1_000_000, 1_100_000));
        assert!(!reserved_start_usable(1_000_000, 1_100_001));
    }

    /// The most starts in any window of `window_us` among sorted `starts`.
    fn busiest(starts: &[i64], window_us: i64) -> usize {
        let mut most = 0;
        let mut first = 0;
        for (last, at) in starts.iter().enumerate() {
            while starts[first] < at - window_us {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }

    /// Many workers taking cells in batches of random sizes at random times, every start
    /// then moved by up to the allowance either way: no window of T ≥ 1 s holds more than
    /// rate × (T + 1), and a saturated limiter runs at its rate.
    #[test]
    fn the_bound_holds_under_random_demand_and_jitter() {
        use rand::{Rng, SeedableRng};
        for rate in [1u32, 2, 3, 10, 20, 100, 1000] {
            let p = Pacing::of(limit(rate));
            let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(rate));
            let mut tat = None;
            let mut now = 1_000_000_000i64;
            let mut starts = Vec::new();
            let end = now + 20 * SECOND_US;
            while now < end {
                let n = rng.random_range(1..=(rate * 2).min(200));
                let r = p.reserve(tat, now, n);
                tat = Some(r.new_tat);
                let half = NETWORK_ALLOWANCE_US / 2;
                starts.extend(r.starts.iter().map(|s| s + rng.random_range(-half..=half)));
                now += rng.random_range(0..(2 * SECOND_US / i64::from(rate)).max(1_000));
            }
            starts.sort_unstable();
            for t_ms in [1000i64, 1001, 1250, 1500, 1999, 2000, 3700, 10_000] {
                let allowed = f64::from(rate) * (t_ms as f64 / 1000.0 + 1.0);
                let seen = busiest(&starts, t_ms * 1000);
                assert!(seen as f64 <= allowed, "rate {rate}, window {t_ms} ms: {seen} starts > {allowed}");
            }
            // Demand above the rate all along: the limiter delivers close to it.
            let span = (starts.last().unwrap() - starts[0]) as f64 / 1e6;
            let achieved = starts.len() as f64 / span;
            let expected = if rate == 1 { 1.0 / 1.2 } else { f64::from(rate) };
            assert!(achieved > expected * 0.9, "rate {rate}: achieved {achieved:.1}/s");
        }
    }
}
