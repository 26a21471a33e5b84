//! FIFO heads: `ACCOUNT#<id>` / `FIFO#<group>` (a group's name starts with its
//! subscription's id), where a group's head stands while it waits in the queue
//! (`hookpost_domain::delivery::order`). Written after a failed attempt with attempts left,
//! read when a task of the group arrives; kept a week past its due time (TTL).

use hookpost_domain::delivery::order::FifoHead;

use super::*;
use crate::OrderStore;

pub(super) fn fifo_sk(group: &str) -> String {
    format!("FIFO#{group}")
}

/// The sort-key prefix of every head of one subscription's groups.
pub(super) fn fifo_prefix(subscription: SubscriptionId) -> String {
    format!("FIFO#{subscription}")
}

fn head_item(account: AccountId, group: &str, head: &FifoHead) -> Item {
    let mut item = key(account_pk(account), fifo_sk(group));
    item.extend([
        ("event_id".to_owned(), s(&head.event_id)),
        ("attempt".to_owned(), n(head.attempt)),
        ("due".to_owned(), n(head.due.unix())),
        (TTL_ATTRIBUTE.to_owned(), n(head.expires_at().unix())),
    ]);
    if let Some(paced_at) = head.paced_at {
        item.insert("paced_at".to_owned(), n(paced_at));
    }
    item
}

fn head_from(item: &Item) -> Result<FifoHead, StoreError> {
    let r = Reader(item);
    Ok(FifoHead {
        event_id: r.s("event_id")?.to_owned(),
        attempt: r.n("attempt")?,
        due: r.ts("due")?,
        paced_at: r.opt_n("paced_at")?,
    })
}

#[async_trait]
impl OrderStore for DynamoStore {
    #[instrument(skip(self, head))]
    async fn put_fifo_head(&self, account: AccountId, group: &str, head: &FifoHead) -> Result<(), StoreError> {
        self.put(head_item(account, group, head)).await
    }

    #[instrument(skip(self))]
    async fn get_fifo_head(&self, account: AccountId, group: &str) -> Result<Option<FifoHead>, StoreError> {
        self.get_item(key(account_pk(account), fifo_sk(group))).await?.as_ref().map(head_from).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::T;
    use super::*;

    #[test]
    fn a_head_round_trips_and_expires_after_its_due_time() {
        let account = AccountId::new();
        let sub = SubscriptionId::new();
        let head = FifoHead { event_id: "evt_1".into(), attempt: 3, due: T, paced_at: Some(1_780_000_000_250_000) };
        let group = format!("{sub}.abc");
        let item = head_item(account, &group, &head);
        assert!(Reader(&item).s("sk").unwrap().starts_with(&fifo_prefix(sub)));
        assert_eq!(Reader(&item).n::<i64>(TTL_ATTRIBUTE).unwrap(), head.expires_at().unix());
        assert_eq!(head_from(&item).unwrap(), head);
        let plain = FifoHead { paced_at: None, ..head };
        assert_eq!(head_from(&head_item(account, &group, &plain)).unwrap(), plain);
    }
}
