//! hookpost's rules as pure functions: no I/O, no AWS types.
//!
//! Everything a handler decides — whether a URL may be subscribed, whether an address may be
//! dialled, what a token looks like, which error a client sees — is decided here, so that the
//! Lambda functions, the local server and the tests share one implementation.

pub mod account;
pub mod address;
pub mod delivery;
pub mod erasure;
pub mod error;
pub mod event;
pub mod event_type;
pub mod failure;
pub mod filter;
pub mod ids;
pub mod ingest;
pub mod input;
pub mod operator_event;
pub mod pacing;
pub mod paging;
pub mod portal;
pub mod price;
pub mod rate_limit;
pub mod reason;
pub mod sealing;
pub mod signing;
pub mod subscription;
pub mod time;
pub mod token;
pub mod url_rules;
pub mod usage;
pub mod writes;

pub use account::{Account, Channel, ChannelType, Plan, Scope};
pub use address::{Cidr, DestinationPolicy, ResolveOverrides};
pub use error::{ApiError, Issue};
pub use ids::{AccountId, ChannelId, FailureId, SubscriptionId, TokenId};
pub use reason::Reason;
pub use time::{Clock, SystemClock, Timestamp};
