//! Events: `ACCOUNT#<id>` / `EVENT#<event_id>`, kept for their retention (TTL).

use super::*;

pub(super) fn event_item(event: &Event, expires_at: Timestamp) -> Item {
    let mut item = key(account_pk(event.account_id), format!("EVENT#{}", event.event_id));
    item.extend([
        ("kind".to_owned(), s("event")),
        ("event_id".to_owned(), s(&event.event_id)),
        ("event_type".to_owned(), s(&event.event_type)),
        ("data".to_owned(), s(&event.data)),
        ("created_at".to_owned(), n(event.created_at.unix())),
        ("subscriptions".to_owned(), n(event.subscriptions)),
        ("fanned_out".to_owned(), AttributeValue::Bool(event.fanned_out)),
        (TTL_ATTRIBUTE.to_owned(), n(expires_at.unix())),
    ]);
    if let Some(channel) = &event.channel_id {
        item.insert("channel_id".to_owned(), s(channel.as_str()));
    }
    item
}

pub(super) fn event_from(account: AccountId, item: &Item) -> Result<Event, StoreError> {
    let r = Reader(item);
    Ok(Event {
        account_id: account,
        event_id: r.s("event_id")?.to_owned(),
        event_type: r.s("event_type")?.to_owned(),
        channel_id: r.opt_parsed("channel_id", ChannelId::parse)?,
        data: r.s("data")?.to_owned(),
        created_at: r.ts("created_at")?,
        subscriptions: r.n("subscriptions")?,
        fanned_out: r.bool("fanned_out")?,
    })
}

#[async_trait]
impl EventStore for DynamoStore {
    #[instrument(skip_all, fields(account = %event.account_id, event = %event.event_id))]
    async fn put_event(&self, event: &Event, expires_at: Timestamp) -> Result<Option<Event>, StoreError> {
        if self.put_new(event_item(event, expires_at)).await? {
            return Ok(None);
        }
        // An event past its retention but not yet removed by TTL (which lags) still counts.
        self.get_event(event.account_id, &event.event_id).await
    }

    #[instrument(skip(self))]
    async fn mark_fanned_out(&self, account: AccountId, event_id: &str) -> Result<(), StoreError> {
        let mut e = Expr::default();
        e.set("fanned_out", AttributeValue::Bool(true));
        let result = self
            .update(key(account_pk(account), format!("EVENT#{event_id}")), &e, Some("attribute_exists(pk)"))
            .await?;
        match result {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    #[instrument(skip(self))]
    async fn get_event(&self, account: AccountId, event_id: &str) -> Result<Option<Event>, StoreError> {
        let item = self.get_item(key(account_pk(account), format!("EVENT#{event_id}"))).await?;
        item.as_ref().map(|i| event_from(account, i)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::test_support::{sk, T};

    #[test]
    fn an_event_round_trips_with_its_ttl() {
        let event = Event {
            account_id: AccountId::new(),
            event_id: "evt_1".into(),
            event_type: "call.ended".into(),
            channel_id: ChannelId::parse("dom_1"),
            data: r#"{"n":1}"#.into(),
            created_at: T,
            subscriptions: 3,
            fanned_out: false,
        };
        let item = event_item(&event, T.plus_days(30));
        assert_eq!(sk(&item), "EVENT#evt_1");
        assert_eq!(Reader(&item).n::<i64>(TTL_ATTRIBUTE).unwrap(), T.plus_days(30).unix());
        assert_eq!(event_from(event.account_id, &item).unwrap(), event);
    }
}
