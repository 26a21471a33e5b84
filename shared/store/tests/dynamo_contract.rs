//! The DynamoDB adapter against the store contract, on the DynamoDB-compatible server named
//! by `HOOKPOST_TEST_DYNAMODB_ENDPOINT` (scripts/test starts moto and sets it). Each test
//! gets its own table. Without the variable the tests say so and pass, unless
//! `HOOKPOST_REQUIRE_DYNAMODB=1` (set by scripts/test) makes its absence a failure.

use hookpost_store::DynamoStore;

async fn dynamo() -> Option<DynamoStore> {
    let Ok(endpoint) = std::env::var("HOOKPOST_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var("HOOKPOST_REQUIRE_DYNAMODB").as_deref() != Ok("1"),
            "HOOKPOST_REQUIRE_DYNAMODB=1 but HOOKPOST_TEST_DYNAMODB_ENDPOINT is unset"
        );
        eprintln!("skipped: HOOKPOST_TEST_DYNAMODB_ENDPOINT is unset (scripts/test sets it)");
        return None;
    };
    let client = hookpost_store::dynamo::connect(Some(&endpoint)).await;
    let table = format!("contract-{}", uuid_suffix());
    let store = DynamoStore::new(client, table);
    store.ensure_table().await.expect("create test table");
    Some(store)
}

fn uuid_suffix() -> String {
    hookpost_domain::AccountId::new().to_string()
}

hookpost_store::store_contract_tests!(dynamo());
