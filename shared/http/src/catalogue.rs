//! The event-type catalogue as a function holds it (SPEC §11): read whole from the store,
//! its schemas compiled, and kept for [`CATALOGUE_STALENESS`]. Publishing checks every event
//! against it and subscribing checks every name, so it is read once per that period per
//! process, not once per request. A change made through this process's own handlers (all of
//! hookpost-local's) is seen at once; another Lambda function's copy sees it within the
//! period.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookpost_domain::event_type::Catalogue;
use hookpost_domain::ApiError;
use hookpost_store::CatalogueStore;
use lambda_http::Request;

use crate::parse::Query;
use crate::{App, PageReply, Reply};

/// How long a function may keep using the catalogue it read.
pub const CATALOGUE_STALENESS: Duration = Duration::from_secs(10);

pub struct CatalogueCache {
    store: Arc<dyn CatalogueStore>,
    strict: bool,
    current: Mutex<Option<(Instant, Arc<Catalogue>)>>,
}

impl CatalogueCache {
    pub fn new(store: Arc<dyn CatalogueStore>, strict: bool) -> Self {
        Self { store, strict, current: Mutex::new(None) }
    }

    /// The store behind the cache, for the catalogue's own routes.
    pub fn store(&self) -> &dyn CatalogueStore {
        self.store.as_ref()
    }

    /// The catalogue, read again when the copy held is older than [`CATALOGUE_STALENESS`].
    pub async fn current(&self) -> Result<Arc<Catalogue>, ApiError> {
        if let Some((read_at, catalogue)) = self.lock().as_ref() {
            if read_at.elapsed() < CATALOGUE_STALENESS {
                return Ok(Arc::clone(catalogue));
            }
        }
        let read_at = Instant::now();
        let types = self.store.list_event_types().await?;
        let catalogue = Arc::new(Catalogue::new(&types, self.strict));
        *self.lock() = Some((read_at, Arc::clone(&catalogue)));
        Ok(catalogue)
    }

    /// Forgets the copy held: the next use reads the store (after this process changed it).
    pub fn forget(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<Catalogue>)>> {
        // A panic while holding it leaves only a cached copy behind: still usable.
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A page of the catalogue by name (`limit` 1–100, default 100; `offset`), read from the
/// store: what the operator's list and the customers' list both answer (SPEC §11).
pub async fn catalogue_page(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let mut query = Query::new(req, &["limit", "offset"]);
    let (limit, offset) = query.page(hookpost_domain::paging::EVENT_TYPES_DEFAULT_LIMIT);
    query.finish()?;
    let types = app.catalogue()?.store().list_event_types().await?;
    let total = types.len() as u64;
    let page: Vec<serde_json::Value> =
        types.iter().skip(offset as usize).take(limit as usize).map(|t| t.to_json()).collect();
    Reply::json(
        200,
        &PageReply { items_key: "event_types", items: &page, meta_key: "pagination", total, limit, offset },
    )
}
