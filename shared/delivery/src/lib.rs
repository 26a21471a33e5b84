//! Delivery: the sender behind the destination guard.

pub mod sender;

pub use sender::{OutgoingRequest, SendReport, Sender};
