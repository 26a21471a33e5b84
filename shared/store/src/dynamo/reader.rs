//! Reading typed attributes out of an item.

use super::*;

/// Reads typed attributes out of an item; a missing or mistyped attribute is a corrupt item.
pub(super) struct Reader<'a>(pub(super) &'a Item);

pub(super) fn corrupt(field: &str) -> StoreError {
    StoreError::Backend(format!("corrupt item: attribute `{field}`"))
}

impl<'a> Reader<'a> {
    pub(super) fn opt_s(&self, k: &str) -> Option<&'a str> {
        match self.0.get(k) {
            Some(AttributeValue::S(v)) => Some(v),
            _ => None,
        }
    }

    pub(super) fn s(&self, k: &str) -> Result<&'a str, StoreError> {
        self.opt_s(k).ok_or_else(|| corrupt(k))
    }

    pub(super) fn opt_n<T: FromStr>(&self, k: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(k) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| corrupt(k)),
            Some(_) => Err(corrupt(k)),
        }
    }

    pub(super) fn n<T: FromStr>(&self, k: &str) -> Result<T, StoreError> {
        self.opt_n(k)?.ok_or_else(|| corrupt(k))
    }

    pub(super) fn opt_ts(&self, k: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.opt_n::<i64>(k)?.map(Timestamp::from_unix))
    }

    pub(super) fn ts(&self, k: &str) -> Result<Timestamp, StoreError> {
        self.n::<i64>(k).map(Timestamp::from_unix)
    }

    pub(super) fn bool(&self, k: &str) -> Result<bool, StoreError> {
        match self.0.get(k) {
            Some(AttributeValue::Bool(b)) => Ok(*b),
            _ => Err(corrupt(k)),
        }
    }

    pub(super) fn strings(&self, k: &str) -> Result<Vec<String>, StoreError> {
        match self.0.get(k) {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(items)) => items.iter().map(|v| v.as_s().cloned().map_err(|_| corrupt(k))).collect(),
            Some(_) => Err(corrupt(k)),
        }
    }

    pub(super) fn string_map(&self, k: &str) -> Result<BTreeMap<String, String>, StoreError> {
        match self.0.get(k) {
            None => Ok(BTreeMap::new()),
            Some(AttributeValue::M(m)) => {
                m.iter().map(|(name, v)| Ok((name.clone(), v.as_s().map_err(|_| corrupt(k))?.clone()))).collect()
            }
            Some(_) => Err(corrupt(k)),
        }
    }

    pub(super) fn parsed<T>(&self, k: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
        parse(self.s(k)?).ok_or_else(|| corrupt(k))
    }

    pub(super) fn opt_parsed<T>(&self, k: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, StoreError> {
        self.opt_s(k).map(|v| parse(v).ok_or_else(|| corrupt(k))).transpose()
    }
}
