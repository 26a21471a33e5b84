//! Tests that need DynamoDB are ignored, and counted as such, only when a run opts out.

fn main() {
    hookpost_testenv::emit_cfg();
}
