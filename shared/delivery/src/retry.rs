//! Trying a call again after pauses: the one loop behind the worker's writes, the operator
//! webhook, hookpost-local's deletes of finished tasks and its wait for DynamoDB at start.

use std::future::Future;
use std::time::Duration;

/// Runs `call` until it succeeds, sleeping the next of `pauses` after each failure that
/// `again` says is worth another try (asked only while a pause is left: the place to log
/// "trying again"). Answers the first success, or the error of the last try once the pauses
/// run out or `again` says no.
pub async fn retry<T, E, Fut>(
    pauses: impl IntoIterator<Item = Duration>,
    mut call: impl FnMut() -> Fut,
    mut again: impl FnMut(&E) -> bool,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut pauses = pauses.into_iter();
    loop {
        let err = match call().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        match pauses.next() {
            Some(pause) if again(&err) => tokio::time::sleep(pause).await,
            _ => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const PAUSES: [Duration; 2] = [Duration::from_millis(100), Duration::from_secs(2)];

    /// A call failing its first `failures` tries.
    fn failing(failures: u32, calls: &AtomicU32) -> impl Future<Output = Result<u32, String>> + '_ {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if call <= failures {
                Err(format!("try {call}"))
            } else {
                Ok(call)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_tried_again_after_each_pause_in_turn() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        assert_eq!(retry(PAUSES, || failing(2, &calls), |_| true).await, Ok(3));
        assert_eq!(started.elapsed(), Duration::from_millis(2100), "both pauses, in order");
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_error_is_answered_once_the_pauses_run_out() {
        let calls = AtomicU32::new(0);
        let mut seen = Vec::new();
        let answer = retry(
            PAUSES,
            || failing(9, &calls),
            |err: &String| {
                seen.push(err.clone());
                true
            },
        )
        .await;
        assert_eq!(answer, Err("try 3".to_owned()));
        assert_eq!(seen, ["try 1", "try 2"], "`again` is asked about the errors a pause is left for");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_not_worth_another_try_is_answered_at_once() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        assert_eq!(retry(PAUSES, || failing(9, &calls), |_| false).await, Err("try 1".to_owned()));
        assert_eq!((calls.load(Ordering::SeqCst), started.elapsed()), (1, Duration::ZERO));
    }
}
