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
