//! The store's answers as a client meets them: what is not there is a 404 naming what was
//! looked for; any other store error takes the usual mapping (503 or a logged 500).

use hookpost_domain::ApiError;
use hookpost_store::StoreError;

pub trait Found<T> {
    /// The value, or a 404 naming `resource` when the store has none.
    fn found(self, resource: &'static str) -> Result<T, ApiError>;
}

impl<T> Found<T> for Result<Option<T>, StoreError> {
    fn found(self, resource: &'static str) -> Result<T, ApiError> {
        self?.ok_or(ApiError::NotFound(resource))
    }
}

pub trait OrNotFound<T> {
    /// The store's `NotFound` as a 404 naming `resource`.
    fn or_not_found(self, resource: &'static str) -> Result<T, ApiError>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, resource: &'static str) -> Result<T, ApiError> {
        match self {
            Err(StoreError::NotFound) => Err(ApiError::NotFound(resource)),
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_a_404_naming_it_and_other_errors_keep_their_mapping() {
        assert_eq!(Ok::<_, StoreError>(Some(1)).found("thing").unwrap(), 1);
        assert_eq!(Ok::<Option<u8>, StoreError>(None).found("thing").unwrap_err().status(), 404);
        assert_eq!(Err::<u8, _>(StoreError::NotFound).or_not_found("thing").unwrap_err().status(), 404);
        let unavailable = Err::<u8, _>(StoreError::Unavailable("throttled".into()));
        assert_eq!(unavailable.or_not_found("thing").unwrap_err().status(), 503);
        let broken = Err::<Option<u8>, _>(StoreError::Backend("boom".into()));
        assert_eq!(broken.found("thing").unwrap_err().status(), 500);
    }
}
