//! The table's stream read as operator events: a failure record inserted, a subscription
//! that became auto-disabled. AWS hands the `operator-events` function the stream's records
//! with their images in DynamoDB JSON (`{"name": {"S": "…"}}`); they are read here with the
//! same item mapping the adapter writes with, and the domain decides what each change means.

use aws_sdk_dynamodb::types::AttributeValue;
use hookpost_domain::operator_event::OperatorEvent;
use hookpost_domain::AccountId;
use serde_json::Value;

use super::keyring::Opener;
use super::{corrupt, failure_from, subscription_from, Item, Reader};
use crate::StoreError;

/// A stream image as the SDK's item.
pub fn item_of(image: &Value) -> Result<Item, StoreError> {
    let fields = image.as_object().ok_or_else(|| corrupt("image"))?;
    fields.iter().map(|(name, value)| Ok((name.clone(), attribute_of(value)?))).collect()
}

fn attribute_of(value: &Value) -> Result<AttributeValue, StoreError> {
    let (kind, inner) = value.as_object().and_then(|o| o.iter().next()).ok_or_else(|| corrupt("attribute"))?;
    let text = || inner.as_str().map(str::to_owned).ok_or_else(|| corrupt(kind));
    let texts = || {
        inner
            .as_array()
            .ok_or_else(|| corrupt(kind))?
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| corrupt(kind)))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text()?),
        "N" => AttributeValue::N(text()?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or_else(|| corrupt(kind))?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(texts()?),
        "NS" => AttributeValue::Ns(texts()?),
        "L" => AttributeValue::L(
            inner.as_array().ok_or_else(|| corrupt(kind))?.iter().map(attribute_of).collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(item_of(inner)?),
        // Binary attributes: hookpost writes none.
        _ => return Err(corrupt(kind)),
    })
}

/// What the change of one item (`old` → `new` images; `new` absent for a removal) tells
/// the operator, if anything.
pub fn operator_event(old: Option<&Value>, new: Option<&Value>) -> Result<Option<OperatorEvent>, StoreError> {
    let Some(new) = new.map(item_of).transpose()? else { return Ok(None) };
    match Reader(&new).opt_s("kind") {
        // Inserted once (a repeated write of the same record changes nothing, so no record).
        Some("failure") if old.is_none() => {
            let account = Reader(&new)
                .s("pk")?
                .strip_prefix("ACCOUNT#")
                .and_then(AccountId::parse)
                .ok_or_else(|| corrupt("pk"))?;
            Ok(Some(OperatorEvent::failure_recorded(&failure_from(account, &new)?)))
        }
        Some("subscription") => {
            // Secrets stay as stored: no operator event carries one.
            let read = |item: &Item| subscription_from(item, &Opener::AS_STORED);
            let old = old.map(item_of).transpose()?.map(|item| read(&item)).transpose()?;
            Ok(OperatorEvent::of_subscription_change(old.as_ref(), &read(&new)?))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::keyring::Sealer;
    use hookpost_domain::failure::Failure;
    use hookpost_domain::subscription::{parse_new_subscription, DisabledReason, Subscription, SubscriptionState};
    use hookpost_domain::{DestinationPolicy, Reason, SubscriptionId, Timestamp};

    /// The SDK's item as a stream record's DynamoDB JSON.
    fn image(item: &Item) -> Value {
        fn json(v: &AttributeValue) -> Value {
            match v {
                AttributeValue::S(s) => serde_json::json!({"S": s}),
                AttributeValue::N(n) => serde_json::json!({"N": n}),
                AttributeValue::Bool(b) => serde_json::json!({"BOOL": b}),
                AttributeValue::L(l) => serde_json::json!({"L": l.iter().map(json).collect::<Vec<_>>()}),
                AttributeValue::M(m) => serde_json::json!({"M": image(m)}),
                other => panic!("{other:?}"),
            }
        }
        Value::Object(item.iter().map(|(k, v)| (k.clone(), json(v))).collect())
    }

    const AT: Timestamp = Timestamp::from_unix(1_780_000_000);

    #[test]
    fn an_inserted_failure_record_is_a_failure_event_and_its_changes_are_not() {
        let failure = Failure::inactive(
            AccountId::new(),
            "evt_1",
            "call.ended",
            SubscriptionId::new(),
            "CRM",
            Reason::Timeout,
            AT,
            AT,
        );
        let new = image(&super::super::failure_item(&failure));
        let event = operator_event(None, Some(&new)).unwrap().expect("an event");
        assert_eq!(event, OperatorEvent::failure_recorded(&failure));
        assert_eq!(operator_event(Some(&new), Some(&new)).unwrap(), None, "a retrigger's change");
        assert_eq!(operator_event(Some(&new), None).unwrap(), None, "its expiry");
    }

    #[test]
    fn a_subscription_turning_auto_disabled_is_an_event_with_every_field_read_back() {
        let input = parse_new_subscription(
            serde_json::json!({"url": "https://example.com/h", "headers": {"x-a": "1"}}),
            &DestinationPolicy::default(),
        )
        .unwrap();
        let active = Subscription::create(AccountId::new(), input, None, Some("u".into()), AT);
        let mut disabled = active.clone();
        disabled.state = SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: AT.plus_seconds(9) };
        disabled.consecutive_failures = 5;
        disabled.last_error = Some("http_status: 500".into());
        let (old, new) = (
            image(&super::super::subscription_item(&active, Sealer(None))),
            image(&super::super::subscription_item(&disabled, Sealer(None))),
        );
        let event = operator_event(Some(&old), Some(&new)).unwrap().expect("an auto-disable");
        assert_eq!(event, OperatorEvent::auto_disabled(&disabled, "http_status: 500", AT));
        assert_eq!(operator_event(Some(&new), Some(&new)).unwrap(), None);
        assert_eq!(operator_event(None, Some(&old)).unwrap(), None, "a new subscription");
    }

    #[test]
    fn a_malformed_image_is_an_error_not_a_guess() {
        assert!(item_of(&serde_json::json!({"a": {"B": "AAEC"}})).is_err());
        assert!(item_of(&serde_json::json!({"a": "plain"})).is_err());
        assert!(operator_event(None, Some(&serde_json::json!({"kind": {"S": "failure"}, "pk": {"S": "ACCOUNT#x"}})))
            .is_err());
    }
}
