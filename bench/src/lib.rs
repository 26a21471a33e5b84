//! hookpost's benchmarks: `scripts/bench` runs them, `docs/BENCHMARKS.md` records them.

pub mod api;
pub mod control;
pub mod cost;
pub mod delivery;
pub mod dynamo;
pub mod faults;
pub mod figures;
pub mod invoice;
pub mod load;
pub mod procs;
pub mod publisher;
pub mod sink;
pub mod soak;
pub mod sqs_calls;
pub mod startup;
pub mod throttle;
pub mod workload;
