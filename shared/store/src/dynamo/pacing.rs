//! Each subscription's delivery rate limiter: `RATE#<account>` / `PACE#<subscription>`, its
//! `tat` in unix microseconds (`hookpost_domain::pacing`), beside the API's counters in the
//! account's counters partition (which erasure clears).
//!
//! Taking cells is one UpdateItem, in one of two forms, each conditional on the form being
//! right: a busy limiter (`tat ≥ now`) is *added to* — `ADD tat n × interval` — so that
//! workers taking cells at the same moment never conflict; an idle or new one is *set* —
//! `tat = now + n × interval`. Which form to try first is this process's last sight of the
//! limiter; a wrong guess fails its condition and returns the item as it is
//! (`ReturnValuesOnConditionCheckFailure`), and the second try is made knowing.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use hookpost_domain::pacing::Pacing;

use super::*;
use crate::PacingStore;

/// Tries before giving up on a limiter others keep moving (each try is one write).
const TRIES: usize = 6;
/// The limiter is forgotten this long after its last cell (TTL), never before: one that
/// vanished early would let a second burst through.
const KEPT_AFTER_LAST_CELL_SECS: i64 = 86_400;
/// Limiters this process remembers the last sight of, before it starts afresh.
const HINTS_KEPT: usize = 10_000;

/// What this process last saw of each limiter: which form of the update to try first.
#[derive(Debug, Default)]
pub(super) struct PacingHints(Mutex<HashMap<SubscriptionId, i64>>);

impl PacingHints {
    fn get(&self, id: SubscriptionId) -> Option<i64> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).copied()
    }

    fn note(&self, id: SubscriptionId, tat: i64) {
        let mut hints = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if hints.len() >= HINTS_KEPT {
            hints.clear();
        }
        hints.insert(id, tat);
    }
}

pub(super) fn pace_sk(subscription: SubscriptionId) -> String {
    format!("PACE#{subscription}")
}

/// The limiter as a try finds it: known (`Some(tat)`), known absent, or guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sight {
    Busy,
    Idle,
    Seen(Option<i64>),
}

fn seconds_up(us: i64) -> i64 {
    (us + 999_999).div_euclid(1_000_000)
}

impl DynamoStore {
    /// One UpdateItem: `Ok(Some(starts))` when it took its cells (possibly none, when none
    /// fit the wait), `Ok(None)` with `sight` updated when its condition failed.
    #[allow(clippy::too_many_arguments)]
    async fn take_cells(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        pacing: Pacing,
        now_us: i64,
        wanted: u32,
        max_wait_us: Option<i64>,
        sight: &mut Sight,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let seen = match *sight {
            Sight::Seen(tat) => Some(tat),
            _ => None,
        };
        let busy = match *sight {
            Sight::Busy => true,
            Sight::Idle => false,
            Sight::Seen(tat) => tat.is_some_and(|tat| tat >= now_us),
        };
        // How many to take: all of them, or as many as start within the wait (known only
        // once the limiter was seen; a guess takes all under a condition that they fit).
        let take = match (max_wait_us, seen) {
            (Some(wait), Some(tat)) => wanted.min(pacing.cells_within(tat, now_us, wait)),
            _ => wanted,
        };
        if take == 0 {
            return Ok(Some(Vec::new()));
        }
        let span_us = i64::from(take) * pacing.interval_us;
        let mut e = Expr::default();
        let tat = e.name("tat");
        let now = e.value(n(now_us));
        let condition = if busy {
            e.add("tat", n(span_us));
            // The TTL moves with the limiter (rounded up, so it only ever gains).
            e.add(TTL_ATTRIBUTE, n(seconds_up(span_us)));
            let mut condition = format!("{tat} >= {now}");
            if let Some(wait) = max_wait_us {
                let latest = e.value(n(pacing.latest_tat_for(now_us, take, wait)));
                condition.push_str(&format!(" AND {tat} <= {latest}"));
            }
            condition
        } else {
            let new_tat = now_us + span_us;
            e.set("tat", n(new_tat));
            e.set(TTL_ATTRIBUTE, n(seconds_up(new_tat) + KEPT_AFTER_LAST_CELL_SECS));
            format!("attribute_not_exists({tat}) OR {tat} < {now}")
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(rate_pk(account), pace_sk(subscription))))
            .update_expression(e.update_expression())
            .condition_expression(condition)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let new_tat: i64 = Reader(&out.attributes.unwrap_or_default()).n("tat")?;
                self.pacing_hints.note(subscription, new_tat);
                Ok(Some(pacing.starts(new_tat, take, now_us)))
            }
            Err(err) if is_condition_failure(&err) => {
                let found = err.as_service_error().and_then(|e| match e {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                        c.item().cloned()
                    }
                    _ => None,
                });
                *sight = match found {
                    Some(item) => Sight::Seen(Reader(&item).opt_n::<i64>("tat")?),
                    // A store that does not return the item (not DynamoDB itself): read it.
                    None => Sight::Seen(match self.get_item(key(rate_pk(account), pace_sk(subscription))).await? {
                        Some(item) => Reader(&item).opt_n::<i64>("tat")?,
                        None => None,
                    }),
                };
                Ok(None)
            }
            Err(err) => Err(backend(err)),
        }
    }
}

#[async_trait]
impl PacingStore for DynamoStore {
    #[instrument(skip(self, pacing))]
    async fn reserve_starts(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        pacing: Pacing,
        now_us: i64,
        wanted: u32,
        max_wait_us: Option<i64>,
    ) -> Result<Vec<i64>, StoreError> {
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let mut sight = match self.pacing_hints.get(subscription) {
            Some(tat) if tat >= now_us => Sight::Busy,
            _ => Sight::Idle,
        };
        for _ in 0..TRIES {
            if let Some(starts) =
                self.take_cells(account, subscription, pacing, now_us, wanted, max_wait_us, &mut sight).await?
            {
                return Ok(starts);
            }
        }
        Err(StoreError::Unavailable(format!("the rate limiter of {subscription} kept moving ({TRIES} tries)")))
    }
}

/// Shared by the clones of one store: a process's sight of its limiters.
pub(super) fn new_hints() -> Arc<PacingHints> {
    Arc::new(PacingHints::default())
}
