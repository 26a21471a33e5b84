//! The data keys that seal subscription secrets (`hookpost_domain::sealing`), kept wrapped
//! in the table: `DATAKEY` / `KEY#<id>` for each one ever made, and `DATAKEY` / `CURRENT`
//! naming the one new values are sealed with. A process unwraps a key once (one KMS call)
//! and keeps it for its life; it makes a new current key when the current one is
//! [`DATA_KEY_MAX_AGE_DAYS`] old, so a busy deployment calls KMS a handful of times per
//! Lambda instance, not once per delivery.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hookpost_domain::sealing::{data_key_of, subscription_context, DataKey, DATA_KEY_MAX_AGE_DAYS};

use super::*;
use crate::keys::KeyService;

const PK: &str = "DATAKEY";
const CURRENT: &str = "CURRENT";

/// One process's view of the data keys: the key service, and what it has unwrapped.
pub struct Keyring {
    service: Arc<dyn KeyService>,
    known: RwLock<Arc<HashMap<String, DataKey>>>,
    /// The key new values are sealed with and when it was made; a lock held across making
    /// one, so that a process makes at most one at a time.
    current: tokio::sync::Mutex<Option<(DataKey, Timestamp)>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("known", &self.known().keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Keyring {
    pub fn new(service: Arc<dyn KeyService>) -> Self {
        Self { service, known: RwLock::default(), current: tokio::sync::Mutex::new(None) }
    }

    fn known(&self) -> Arc<HashMap<String, DataKey>> {
        Arc::clone(&self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn remember(&self, key: DataKey) {
        let mut known = self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = HashMap::clone(&known);
        next.insert(key.id.clone(), key);
        *known = Arc::new(next);
    }
}

fn is_fresh(made: Timestamp, now: Timestamp) -> bool {
    now < made.plus_days(DATA_KEY_MAX_AGE_DAYS)
}

/// How an item's secret attributes are read: opened with the keys this process holds, or
/// as they are stored (the operator-events stream, which reads no secret).
pub(super) struct Opener(Option<Arc<HashMap<String, DataKey>>>);

impl Opener {
    pub(super) const AS_STORED: Self = Self(None);

    #[cfg(test)]
    pub(super) fn holding(keys: impl IntoIterator<Item = DataKey>) -> Self {
        Self(Some(Arc::new(keys.into_iter().map(|k| (k.id.clone(), k)).collect())))
    }

    /// `value` in plaintext: opened when sealed, as it is when written before sealing.
    pub(super) fn open(&self, value: &str, context: &str, field: &str) -> Result<String, StoreError> {
        let (Some(id), Some(keys)) = (data_key_of(value), &self.0) else { return Ok(value.to_owned()) };
        let key = keys.get(id).ok_or_else(|| {
            StoreError::Backend(format!(
                "`{field}` is sealed with data key {id}, which this process cannot open \
                 (no HOOKPOST_KMS_KEY_ID or HOOKPOST_SECRETS_KEY, or another one)"
            ))
        })?;
        key.open(value, context).map_err(|e| StoreError::Backend(format!("`{field}`: {e}")))
    }
}

/// How new secret values are written: sealed with the current data key, or — when the
/// store has no key service (tests of the mapping) — as they are.
#[derive(Clone, Copy)]
pub(super) struct Sealer<'a>(pub(super) Option<&'a DataKey>);

impl Sealer<'_> {
    pub(super) fn seal(&self, value: &str, context: &str) -> String {
        match self.0 {
            Some(key) => key.seal(value, context),
            None => value.to_owned(),
        }
    }
}

/// The secret attributes of a subscription item: the string ones, and `headers` (a map
/// whose values are sealed one by one).
pub(super) const SECRET_ATTRIBUTES: [&str; 4] = ["secret", "previous_secret", "auth_password", "auth_token"];

/// Every value of `item`'s secret attributes, sealed or not.
fn secret_values(item: &Item) -> impl Iterator<Item = &str> {
    let strings = SECRET_ATTRIBUTES.iter().filter_map(|a| item.get(*a)).filter_map(|v| v.as_s().ok());
    let headers = item
        .get("headers")
        .and_then(|h| h.as_m().ok())
        .into_iter()
        .flat_map(|m| m.values().filter_map(|v| v.as_s().ok()));
    strings.chain(headers).map(String::as_str)
}

/// Whether `item` still holds a secret in plaintext (written before sealing existed).
pub(super) fn holds_plaintext(item: &Item) -> bool {
    secret_values(item).any(|v| data_key_of(v).is_none())
}

impl DynamoStore {
    /// Seals subscription secrets with `service`'s data keys from now on.
    pub fn with_sealing(mut self, service: Arc<dyn KeyService>) -> Self {
        self.keyring = Some(Arc::new(Keyring::new(service)));
        self
    }

    /// What new secret values are sealed with: the current data key, made (and filed in
    /// the table) when there is none or it is too old.
    pub(super) async fn current_data_key(&self) -> Result<Option<DataKey>, StoreError> {
        let Some(ring) = &self.keyring else { return Ok(None) };
        let mut current = ring.current.lock().await;
        let now = Timestamp::now();
        if let Some((key, _)) = current.as_ref().filter(|(_, made)| is_fresh(*made, now)) {
            return Ok(Some(key.clone()));
        }
        let stored = self.get_item(key(PK.to_owned(), CURRENT)).await?;
        let (key, made) = match stored {
            Some(item) if is_fresh(Reader(&item).ts("created_at")?, now) => self.data_key_in(ring, &item).await?,
            stored => self.make_data_key(ring, stored.as_ref(), now).await?,
        };
        *current = Some((key.clone(), made));
        Ok(Some(key))
    }

    /// A new data key, filed and made current in one transaction unless another process
    /// has replaced `replacing` meanwhile — then that one.
    async fn make_data_key(
        &self,
        ring: &Keyring,
        replacing: Option<&Item>,
        now: Timestamp,
    ) -> Result<(DataKey, Timestamp), StoreError> {
        let id = DataKey::new_id();
        let (fresh, wrapped) = ring.service.generate_data_key(&id).await?;
        let filed = |sk: &str| {
            let mut item = key(PK.to_owned(), sk);
            item.insert("kind".to_owned(), s("data_key"));
            item.insert("key_id".to_owned(), s(&id));
            item.insert("wrapped".to_owned(), s(STANDARD.encode(&wrapped)));
            item.insert("created_at".to_owned(), n(now.unix()));
            item
        };
        let file = Put::builder()
            .table_name(&self.table)
            .set_item(Some(filed(&format!("KEY#{id}"))))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(invalid_request)?;
        let mut current = Put::builder().table_name(&self.table).set_item(Some(filed(CURRENT)));
        current = match replacing.map(|item| Reader(item).s("key_id")).transpose()? {
            Some(old) => current.condition_expression("key_id = :old").expression_attribute_values(":old", s(old)),
            None => current.condition_expression("attribute_not_exists(pk)"),
        };
        let items = vec![
            TransactWriteItem::builder().put(file).build(),
            TransactWriteItem::builder().put(current.build().map_err(invalid_request)?).build(),
        ];
        match self.transact(items).await? {
            Ok(()) => {
                tracing::info!(data_key = %id, "made a new data key for sealing secrets");
                ring.remember(fresh.clone());
                Ok((fresh, now))
            }
            Err(_) => {
                let item = self.get_item(key(PK.to_owned(), CURRENT)).await?.ok_or(StoreError::Conflict)?;
                self.data_key_in(ring, &item).await
            }
        }
    }

    /// The key a `DATAKEY` item files, unwrapped (once per process).
    async fn data_key_in(&self, ring: &Keyring, item: &Item) -> Result<(DataKey, Timestamp), StoreError> {
        let r = Reader(item);
        let (id, made) = (r.s("key_id")?, r.ts("created_at")?);
        if let Some(key) = ring.known().get(id) {
            return Ok((key.clone(), made));
        }
        let wrapped = STANDARD.decode(r.s("wrapped")?).map_err(|_| corrupt("wrapped"))?;
        let key = ring.service.unwrap_data_key(id, &wrapped).await?;
        ring.remember(key.clone());
        Ok((key, made))
    }

    /// What opens the secrets of `items`: every data key they name, unwrapped.
    pub(super) async fn opener_for<'a>(&self, items: impl IntoIterator<Item = &'a Item>) -> Result<Opener, StoreError> {
        let Some(ring) = &self.keyring else { return Ok(Opener(Some(Arc::default()))) };
        let known = ring.known();
        let mut missing: Vec<String> = Vec::new();
        for item in items {
            for id in secret_values(item).filter_map(data_key_of) {
                if !known.contains_key(id) && !missing.iter().any(|m| m == id) {
                    missing.push(id.to_owned());
                }
            }
        }
        for id in missing {
            match self.get_item(key(PK.to_owned(), format!("KEY#{id}"))).await? {
                Some(item) => {
                    self.data_key_in(ring, &item).await?;
                }
                None => tracing::error!(data_key = %id, "a secret is sealed with a data key the table does not hold"),
            }
        }
        Ok(Opener(Some(ring.known())))
    }

    /// Seals, in place, the secrets `item` (as just written) still holds in plaintext — each
    /// on condition it is unchanged, so a racing write is never overwritten. Errors are
    /// logged: the item stays readable, and the next write tries again.
    pub(super) async fn reseal(&self, item: &Item) {
        if self.keyring.is_none() || !holds_plaintext(item) {
            return;
        }
        if let Err(err) = self.try_reseal(item).await {
            tracing::warn!(error = %err, "could not seal a subscription's plaintext secrets yet");
        }
    }

    async fn try_reseal(&self, item: &Item) -> Result<(), StoreError> {
        let Some(key) = self.current_data_key().await? else { return Ok(()) };
        let r = Reader(item);
        let context = subscription_context(r.s("account_id")?, r.s("id")?);
        let mut e = Expr::default();
        let mut conditions = Vec::new();
        for attr in SECRET_ATTRIBUTES {
            if let Some(plain) = r.opt_s(attr).filter(|v| data_key_of(v).is_none()) {
                let name = e.name(attr);
                let was = e.value(s(plain));
                conditions.push(format!("{name} = {was}"));
                e.set(attr, s(key.seal(plain, &context)));
            }
        }
        let plaintext_headers = item
            .get("headers")
            .and_then(|h| h.as_m().ok())
            .filter(|m| m.values().filter_map(|v| v.as_s().ok()).any(|v| data_key_of(v).is_none()));
        if let Some(headers) = plaintext_headers {
            let name = e.name("headers");
            let was = e.value(AttributeValue::M(headers.clone()));
            conditions.push(format!("{name} = {was}"));
            let sealed = headers
                .iter()
                .map(|(k, v)| match v.as_s() {
                    Ok(plain) if data_key_of(plain).is_none() => (k.clone(), s(key.seal(plain, &context))),
                    _ => (k.clone(), v.clone()),
                })
                .collect();
            e.set("headers", AttributeValue::M(sealed));
        }
        let key_of = key_of_item(item)?;
        self.update(key_of, &e, Some(&conditions.join(" AND "))).await?;
        Ok(())
    }
}

fn key_of_item(item: &Item) -> Result<Item, StoreError> {
    let r = Reader(item);
    Ok(key(r.s("pk")?.to_owned(), r.s("sk")?))
}
