//! Delivery control (SPEC §10): each subscription's rate limiter and its FIFO heads.

use hookpost_domain::delivery::order::FifoHead;
use hookpost_domain::pacing::{Pacing, RateLimit};

use super::*;
use crate::{OrderStore, PacingStore};

const NOW_US: i64 = 1_780_000_000_000_000;

fn pacing(per_second: u32) -> Pacing {
    RateLimit::new(per_second).expect("a limit").pacing()
}

/// Each take on the store grants exactly the starts the domain plans for the limiter as it
/// stands, whether it is new, busy, idle again or asked to fit a wait.
pub async fn rate_limiters_take_cells_as_the_domain_plans<S: PacingStore>(store: &S) {
    let (account, sub) = (AccountId::new(), SubscriptionId::new());
    let p = pacing(20);
    let mut tat = None;
    // (now, cells wanted, the longest wait) in order: a new limiter, a busy one, one asked
    // to fit a wait it can partly fit, one that fits none, one idle again long after.
    let steps = [
        (NOW_US, 20, None),
        (NOW_US + 100_000, 30, None),
        (NOW_US + 200_000, 40, Some(2_000_000)),
        (NOW_US + 300_000, 5, Some(0)),
        (NOW_US + 60_000_000, 3, None),
        (NOW_US + 60_000_000, 1, Some(0)),
    ];
    for (now, wanted, wait) in steps {
        let take = wait.map_or(wanted, |w| wanted.min(p.cells_within(tat, now, w)));
        let planned = if take == 0 { Vec::new() } else { p.reserve(tat, now, take).starts };
        let got = store.reserve_starts(account, sub, p, now, wanted, wait).await.unwrap();
        assert_eq!(got, planned, "at +{} µs, {wanted} wanted within {wait:?}", now - NOW_US);
        if take > 0 {
            tat = Some(p.reserve(tat, now, take).new_tat);
        }
    }
    // Another subscription's limiter is its own.
    let other = store.reserve_starts(account, SubscriptionId::new(), p, NOW_US, 1, None).await.unwrap();
    assert_eq!(other, vec![NOW_US]);
}

/// Concurrent takes (workers of several processes) lose no cell: together they grant what
/// one take of all of them would.
pub async fn concurrent_reservations_lose_no_cell<S: PacingStore>(store: &S) {
    let (account, sub) = (AccountId::new(), SubscriptionId::new());
    let p = pacing(100);
    let takes = (0..8).map(|_| store.reserve_starts(account, sub, p, NOW_US, 5, None));
    let mut starts: Vec<i64> = futures::future::join_all(takes).await.into_iter().flat_map(Result::unwrap).collect();
    starts.sort_unstable();
    assert_eq!(starts, p.reserve(None, NOW_US, 40).starts);
    let next = store.reserve_starts(account, sub, p, NOW_US, 1, None).await.unwrap();
    assert_eq!(next, p.reserve(Some(NOW_US + 40 * p.interval_us), NOW_US, 1).starts);
}

pub async fn fifo_heads_are_kept_per_group<S: OrderStore>(store: &S) {
    let account = AccountId::new();
    let sub = SubscriptionId::new();
    let (a, b) = (format!("{sub}.aa"), format!("{sub}.bb"));
    assert_eq!(store.get_fifo_head(account, &a).await.unwrap(), None);
    let head = FifoHead { event_id: "evt_1".into(), attempt: 2, due: NOW.plus_seconds(60), paced_at: None };
    store.put_fifo_head(account, &a, &head).await.unwrap();
    assert_eq!(store.get_fifo_head(account, &a).await.unwrap(), Some(head.clone()));
    assert_eq!(store.get_fifo_head(account, &b).await.unwrap(), None, "another group");
    assert_eq!(store.get_fifo_head(AccountId::new(), &a).await.unwrap(), None, "another account");
    let next = FifoHead { attempt: 3, due: NOW.plus_seconds(660), paced_at: Some(NOW_US + 660_000_000), ..head };
    store.put_fifo_head(account, &a, &next).await.unwrap();
    assert_eq!(store.get_fifo_head(account, &a).await.unwrap(), Some(next), "the newest replaces it");
}
