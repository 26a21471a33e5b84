//! The DynamoDB adapter against the store contract, on the DynamoDB-compatible server named
//! by `HOOKPOST_TEST_DYNAMODB_ENDPOINT` (scripts/test starts moto and sets it). Each test
//! gets its own table. Without the variable the tests fail, unless the run opts out with
//! `HOOKPOST_SKIP_DYNAMODB=1` and they are reported as ignored.

use hookpost_store::DynamoStore;

async fn dynamo() -> DynamoStore {
    let endpoint = hookpost_testenv::dynamodb_endpoint();
    let client = hookpost_store::dynamo::connect(Some(&endpoint)).await;
    let table = format!("contract-{}", uuid_suffix());
    let store = DynamoStore::new(client, table);
    store.ensure_table().await.expect("create test table");
    store
}

fn uuid_suffix() -> String {
    hookpost_domain::AccountId::new().to_string()
}

hookpost_store::store_contract_tests!(dynamo(); needs_dynamodb);

/// Erasure as the contract states it, then the whole table read item by item: nothing that
/// names the erased account is left in any attribute.
#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn erasure_leaves_no_item_of_the_account_in_the_table() {
    let store = dynamo().await;
    let erased = hookpost_store::contract::erasure_removes_everything_an_account_owns(&store).await.to_string();
    let mut start = None;
    let (mut scanned, mut left) = (0, Vec::new());
    loop {
        let out = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        for item in out.items() {
            scanned += 1;
            if format!("{item:?}").contains(&erased) {
                left.push(format!("{:?} {:?}", item.get("pk"), item.get("sk")));
            }
        }
        match out.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    assert!(scanned > 0, "the bystander account's items are there to scan");
    assert!(left.is_empty(), "items of the erased account left: {left:?}");
}
