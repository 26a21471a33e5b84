//! The in-memory adapter against the store contract.

async fn memory() -> hookpost_store::MemoryStore {
    hookpost_store::MemoryStore::new()
}

hookpost_store::store_contract_tests!(memory());
