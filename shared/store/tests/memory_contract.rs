//! The in-memory adapter against the store contract.

async fn memory() -> Option<hookpost_store::MemoryStore> {
    Some(hookpost_store::MemoryStore::new())
}

hookpost_store::store_contract_tests!(memory());
