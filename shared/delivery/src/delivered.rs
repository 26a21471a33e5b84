//! Delivered attempts logged together: one `deliveries` line per account at the end of each
//! delivery batch (hookpost-local: every second), not a line per delivery. In Lambda every
//! byte written to stdout is ingested by CloudWatch Logs ($0.50 per GB, 26 bytes more a
//! line): a 704-byte JSON line per delivery was $0.34 per million deliveries, more than a
//! quarter of what EventBridge charges for the whole delivery. A failed attempt still has its own line (`delivery_attempt`),
//! every attempt is in the attempt log, and `RUST_LOG=debug` (`AWS_LAMBDA_LOG_LEVEL=DEBUG`)
//! brings back a line per delivered attempt.

use std::sync::Mutex;

use hookpost_domain::{AccountId, SubscriptionId};

/// The most delivered attempts one line lists: a Lambda batch's worth, so a line stays a
/// few kilobytes whatever hookpost-local delivers in a second.
pub const PER_LINE: usize = 100;

/// Delivered attempts since the last [`DeliveredLog::write`], by account, each as
/// `<event_id> <subscription_id> #<attempt> <status> <duration>ms`.
#[derive(Debug, Default)]
pub struct DeliveredLog {
    delivered: Mutex<Vec<(AccountId, String)>>,
}

impl DeliveredLog {
    pub fn add(
        &self,
        account: AccountId,
        event_id: &str,
        subscription: SubscriptionId,
        attempt: u32,
        status: u16,
        duration_ms: u64,
    ) {
        let entry = format!("{event_id} {subscription} #{attempt} {status} {duration_ms}ms");
        // A poisoned lock only means a panic elsewhere mid-push: the list is still a list.
        self.delivered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((account, entry));
    }

    /// Logs what was delivered since the last write and starts again from nothing.
    pub fn write(&self) {
        for (account, count, attempts) in self.lines() {
            tracing::info!(
                log = "deliveries",
                account_id = %account,
                delivered = count,
                attempts = %attempts,
                "{count} attempt(s) delivered"
            );
        }
    }

    /// The lines [`DeliveredLog::write`] logs: per account (in the order they were first
    /// seen), at most [`PER_LINE`] attempts each, joined by `, `.
    fn lines(&self) -> Vec<(AccountId, usize, String)> {
        let delivered = std::mem::take(&mut *self.delivered.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut accounts: Vec<AccountId> = Vec::new();
        for (account, _) in &delivered {
            if !accounts.contains(account) {
                accounts.push(*account);
            }
        }
        let mut lines = Vec::new();
        for account in accounts {
            let entries: Vec<&str> = delivered.iter().filter(|(a, _)| *a == account).map(|(_, e)| e.as_str()).collect();
            for chunk in entries.chunks(PER_LINE) {
                lines.push((account, chunk.len(), chunk.join(", ")));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_group_by_account_in_order_and_hold_at_most_a_batch() {
        let log = DeliveredLog::default();
        let (a, b) = (AccountId::new(), AccountId::new());
        let sub = SubscriptionId::new();
        log.add(a, "evt_1", sub, 1, 204, 12);
        log.add(b, "evt_2", sub, 3, 200, 7);
        for i in 0..PER_LINE {
            log.add(a, &format!("evt_a{i}"), sub, 1, 204, 1);
        }
        let lines = log.lines();
        let shape: Vec<(AccountId, usize)> = lines.iter().map(|(acc, n, _)| (*acc, *n)).collect();
        assert_eq!(shape, [(a, PER_LINE), (a, 1), (b, 1)]);
        assert!(lines[0].2.starts_with(&format!("evt_1 {sub} #1 204 12ms, evt_a0 {sub} #1 204 1ms, ")));
        assert_eq!(lines[1].2, format!("evt_a{} {sub} #1 204 1ms", PER_LINE - 1));
        assert_eq!(lines[2].2, format!("evt_2 {sub} #3 200 7ms"));
        // Written once: the next write starts from nothing.
        assert!(log.lines().is_empty());
    }
}
