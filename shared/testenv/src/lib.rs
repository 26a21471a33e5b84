//! What the test suite needs from its environment, and how a run opts out of it.
//!
//! A test that needs a DynamoDB-compatible server fails when there is none: a green run
//! must mean the code ran. A run opts out explicitly with `HOOKPOST_SKIP_DYNAMODB=1`; then
//! those tests are compiled `#[ignore]`d (a crate's build script calls [`emit_cfg`], its
//! tests carry `#[cfg_attr(skip_dynamodb, ignore = "...")]`), so cargo's own summary counts
//! them as not run.

/// The variable that opts a run out of the tests that need DynamoDB.
pub const SKIP_VARIABLE: &str = "HOOKPOST_SKIP_DYNAMODB";
/// The variable naming the DynamoDB-compatible endpoint (moto serves SQS on it too).
pub const ENDPOINT_VARIABLE: &str = "HOOKPOST_TEST_DYNAMODB_ENDPOINT";

/// For a build script: sets `cfg(skip_dynamodb)` when the run opts out.
pub fn emit_cfg() {
    println!("cargo::rustc-check-cfg=cfg(skip_dynamodb)");
    println!("cargo::rerun-if-env-changed={SKIP_VARIABLE}");
    if std::env::var(SKIP_VARIABLE).is_ok_and(|v| v == "1") {
        println!("cargo::rustc-cfg=skip_dynamodb");
    }
}

/// The endpoint of the test run. A test asking for it fails when it is unset: no test
/// passes without running.
pub fn dynamodb_endpoint() -> String {
    match std::env::var(ENDPOINT_VARIABLE) {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "this test needs a DynamoDB-compatible server: run scripts/test (it starts moto), or set \
             {ENDPOINT_VARIABLE} to one; to leave these tests out of a run on purpose, build with \
             {SKIP_VARIABLE}=1 and they are reported as ignored"
        ),
    }
}
