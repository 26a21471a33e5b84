//! How every list is paged (SPEC §4): `limit` from 1 to [`MAX_LIMIT`], with each list's own
//! default, and `offset` from 0 to [`MAX_OFFSET`].

/// The most items one page holds.
pub const MAX_LIMIT: u32 = 100;
/// The furthest a page may start: beyond it a client is walking a list no one pages through.
pub const MAX_OFFSET: u32 = 1_000_000;

/// Each list's `limit` when the request names none.
pub const SUBSCRIPTIONS_DEFAULT_LIMIT: u32 = 25;
pub const ATTEMPTS_DEFAULT_LIMIT: u32 = 25;
pub const FAILURES_DEFAULT_LIMIT: u32 = MAX_LIMIT;
pub const EVENT_TYPES_DEFAULT_LIMIT: u32 = MAX_LIMIT;
