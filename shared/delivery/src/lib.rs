//! Delivery: the sender behind the destination guard, the Queue port and its adapters, and
//! the worker step.

pub mod delivered;
mod header_case;
pub mod metrics;
pub mod operator;
pub mod publish;
pub mod queue;
pub mod retrigger;
pub mod retry;
pub mod sender;
pub mod starts;
pub mod sweep;
pub mod usage;
pub mod worker;

pub use delivered::DeliveredLog;
pub use operator::OperatorEvents;
pub use publish::Publisher;
pub use queue::{HoldQueue, InProcessQueue, Queue, QueueError, SqsQueue};
pub use sender::{OutgoingRequest, SendReport, Sender};
pub use usage::UsageTally;
pub use worker::{Handled, TaskError, Worker};
