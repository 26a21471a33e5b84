//! The in-process adapter of the Queue port: hookpost-local's queue when its state is in
//! memory, and the workers that drain it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hookpost_domain::delivery::DeliveryTask;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Queue, QueueError};

/// A received task: acknowledge it when done, or let it come back.
#[derive(Debug)]
pub struct Lease {
    id: u64,
    pub task: DeliveryTask,
}

#[derive(Default)]
struct State {
    /// Due time and id, earliest first.
    waiting: BinaryHeap<Reverse<(Instant, u64)>>,
    tasks: HashMap<u64, DeliveryTask>,
    /// Leased tasks and when their lease runs out.
    leased: HashMap<u64, Instant>,
    /// Each FIFO group's tasks in order; only the first is waiting or leased.
    groups: HashMap<String, VecDeque<u64>>,
    next_id: u64,
}

/// The queue of `hookpost-local`: delayed tasks in memory, leases with a visibility timeout,
/// and a bound on new work: past `capacity` tasks, a fan-out or a retrigger is refused (the
/// publish answers 503 `unavailable` with `Retry-After`) instead of memory growing without
/// end. A retry of a delivery already accepted is always taken: refusing it would lose it.
pub struct InProcessQueue {
    state: Mutex<State>,
    ready: Notify,
    visibility: Duration,
    capacity: usize,
}

/// hookpost-local's default bound (`HOOKPOST_QUEUE_CAPACITY`).
pub const DEFAULT_CAPACITY: usize = 100_000;

impl InProcessQueue {
    pub fn new(visibility: Duration) -> Self {
        Self::with_capacity(visibility, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(visibility: Duration, capacity: usize) -> Self {
        Self { state: Mutex::new(State::default()), ready: Notify::new(), visibility, capacity: capacity.max(1) }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tasks waiting or leased.
    pub fn len(&self) -> usize {
        self.lock().tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for a due task and leases it for the visibility timeout.
    pub async fn receive(&self) -> Lease {
        loop {
            let now = Instant::now();
            let wake = {
                let mut state = self.lock();
                // Leases that ran out: the task is due again, now.
                let expired: Vec<u64> =
                    state.leased.iter().filter(|(_, until)| **until <= now).map(|(id, _)| *id).collect();
                for id in expired {
                    state.leased.remove(&id);
                    state.waiting.push(Reverse((now, id)));
                }
                while let Some(Reverse((due, id))) = state.waiting.peek().copied() {
                    if due > now {
                        break;
                    }
                    state.waiting.pop();
                    if let Some(task) = state.tasks.get(&id).cloned() {
                        state.leased.insert(id, now + self.visibility);
                        return Lease { id, task };
                    }
                }
                let next_due = state.waiting.peek().map(|Reverse((due, _))| *due);
                let next_expiry = state.leased.values().min().copied();
                [next_due, next_expiry].into_iter().flatten().min().unwrap_or(now + Duration::from_secs(1))
            };
            tokio::select! {
                _ = self.ready.notified() => {}
                _ = tokio::time::sleep_until(wake.min(now + Duration::from_secs(1))) => {}
            }
        }
    }

    /// Done with it: the task leaves the queue, and the next task of its group (if it is
    /// ordered) is due.
    pub fn ack(&self, lease: Lease) {
        let mut state = self.lock();
        state.leased.remove(&lease.id);
        let Some(task) = state.tasks.remove(&lease.id) else { return };
        let Some(group) = task.group() else { return };
        let next = match state.groups.get_mut(&group) {
            Some(order) => {
                order.retain(|id| *id != lease.id);
                order.front().copied()
            }
            None => None,
        };
        match next {
            Some(next) => {
                state.waiting.push(Reverse((Instant::now(), next)));
                drop(state);
                self.ready.notify_one();
            }
            None => {
                state.groups.remove(&group);
            }
        }
    }

    /// Not done: the task comes back after `delay`.
    pub fn release(&self, lease: Lease, delay: Duration) {
        let mut state = self.lock();
        if state.leased.remove(&lease.id).is_some() {
            state.waiting.push(Reverse((Instant::now() + delay, lease.id)));
        }
        drop(state);
        self.ready.notify_one();
    }
}

#[async_trait]
impl Queue for InProcessQueue {
    async fn enqueue(&self, task: &DeliveryTask, delay: Duration) -> Result<(), QueueError> {
        self.enqueue_all(std::slice::from_ref(task), delay).await
    }

    /// All or none: a fan-out that would pass the bound is refused whole.
    async fn enqueue_all(&self, tasks: &[DeliveryTask], delay: Duration) -> Result<(), QueueError> {
        let mut state = self.lock();
        let new_work = tasks.iter().filter(|t| t.attempt <= 1).count();
        if new_work > 0 && state.tasks.len() + new_work > self.capacity {
            return Err(QueueError::Full { held: state.tasks.len(), capacity: self.capacity });
        }
        let due = Instant::now() + delay;
        for task in tasks {
            state.next_id += 1;
            let id = state.next_id;
            state.tasks.insert(id, task.clone());
            // An ordered task waits behind the ones of its group before it.
            let first_of_group = match task.group() {
                Some(group) => {
                    let order = state.groups.entry(group).or_default();
                    order.push_back(id);
                    order.len() == 1
                }
                None => true,
            };
            if first_of_group {
                state.waiting.push(Reverse((due, id)));
            }
        }
        drop(state);
        for _ in tasks {
            self.ready.notify_one();
        }
        Ok(())
    }
}

/// What a worker does with a task: `Ok(None)` acknowledges it, `Ok(Some(delay))` holds it
/// (an ordered task that keeps its place) for `delay`, `Err` lets it come back.
pub type TaskHandler =
    Arc<dyn Fn(DeliveryTask) -> Pin<Box<dyn Future<Output = Result<Option<Duration>, ()>> + Send>> + Send + Sync>;

/// How long a task that failed for an internal reason (the store unreachable, say) waits
/// before its next try.
pub const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// Runs `workers` workers on the queue until the returned set is dropped or aborted.
///
/// When `drain` turns true, each worker finishes the task it holds and takes no other: a
/// graceful shutdown waits for the set to end.
pub fn spawn_workers(
    queue: Arc<InProcessQueue>,
    workers: usize,
    handler: TaskHandler,
    drain: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = Arc::clone(&queue);
        let handler = Arc::clone(&handler);
        let mut drain = drain.clone();
        set.spawn(async move {
            loop {
                let lease = tokio::select! {
                    biased;
                    _ = drain.wait_for(|draining| *draining) => return,
                    lease = queue.receive() => lease,
                };
                match handler(lease.task.clone()).await {
                    Ok(None) => queue.ack(lease),
                    Ok(Some(hold)) => queue.release(lease, hold),
                    Err(()) => queue.release(lease, RETRY_AFTER_ERROR),
                }
            }
        });
    }
    set
}

#[cfg(test)]
mod tests {
    use hookpost_domain::{AccountId, SubscriptionId};

    use super::*;

    fn task(n: u32) -> DeliveryTask {
        let mut t = DeliveryTask::first(AccountId::new(), SubscriptionId::new(), "evt");
        t.attempt = n;
        t
    }

    fn ordered(sub: SubscriptionId, key: &str, n: u32) -> DeliveryTask {
        let mut t = DeliveryTask::first(AccountId::new(), sub, "evt");
        t.attempt = n;
        t.in_order = Some(hookpost_domain::delivery::order::InOrder { key: Some(key.to_owned()) });
        t
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_hands_out_its_next_task_only_after_the_one_before() {
        let q = InProcessQueue::new(Duration::from_secs(30));
        let sub = SubscriptionId::new();
        for n in 1..=3 {
            q.enqueue(&ordered(sub, "a", n), Duration::ZERO).await.unwrap();
        }
        q.enqueue(&ordered(sub, "b", 10), Duration::ZERO).await.unwrap();
        q.enqueue(&task(20), Duration::ZERO).await.unwrap();
        let first = q.receive().await;
        assert_eq!(first.task.attempt, 1);
        // The other group and the unordered task go on while "a" is held.
        let mut others = vec![q.receive().await, q.receive().await];
        others.sort_by_key(|l| l.task.attempt);
        assert_eq!(others.iter().map(|l| l.task.attempt).collect::<Vec<_>>(), [10, 20]);
        for lease in others {
            q.ack(lease);
        }
        // "a" is held between attempts: its second task does not come meanwhile.
        q.release(first, Duration::from_secs(60));
        let start = Instant::now();
        let again = q.receive().await;
        assert_eq!(again.task.attempt, 1, "the held head first, after its hold");
        assert!(start.elapsed() >= Duration::from_secs(60));
        q.ack(again);
        for expected in [2, 3] {
            let next = q.receive().await;
            assert_eq!(next.task.attempt, expected);
            q.ack(next);
        }
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_whose_worker_died_waits_for_its_head_to_come_back() {
        let q = InProcessQueue::new(Duration::from_secs(30));
        let sub = SubscriptionId::new();
        q.enqueue(&ordered(sub, "k", 1), Duration::ZERO).await.unwrap();
        q.enqueue(&ordered(sub, "k", 2), Duration::ZERO).await.unwrap();
        drop(q.receive().await);
        let start = Instant::now();
        let back = q.receive().await;
        assert_eq!(back.task.attempt, 1, "the head again, never the one after it");
        assert!(start.elapsed() >= Duration::from_secs(30));
        q.ack(back);
        assert_eq!(q.receive().await.task.attempt, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_tasks_come_in_due_order() {
        let q = InProcessQueue::new(Duration::from_secs(30));
        q.enqueue(&task(2), Duration::from_secs(10)).await.unwrap();
        q.enqueue(&task(1), Duration::from_secs(5)).await.unwrap();
        q.enqueue(&task(0), Duration::ZERO).await.unwrap();
        let start = Instant::now();
        for expected in 0..3 {
            let lease = q.receive().await;
            assert_eq!(lease.task.attempt, expected);
            q.ack(lease);
        }
        assert!(start.elapsed() >= Duration::from_secs(10));
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unacknowledged_lease_comes_back_after_the_visibility_timeout() {
        let q = InProcessQueue::new(Duration::from_secs(30));
        q.enqueue(&task(7), Duration::ZERO).await.unwrap();
        let lease = q.receive().await;
        drop(lease);
        let start = Instant::now();
        let again = q.receive().await;
        assert_eq!(again.task.attempt, 7);
        assert!(start.elapsed() >= Duration::from_secs(30));
        q.ack(again);
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_task_comes_back_after_its_delay() {
        let q = InProcessQueue::new(Duration::from_secs(30));
        q.enqueue(&task(3), Duration::ZERO).await.unwrap();
        let lease = q.receive().await;
        q.release(lease, Duration::from_secs(2));
        let start = Instant::now();
        let again = q.receive().await;
        assert!(start.elapsed() >= Duration::from_secs(2) && start.elapsed() < Duration::from_secs(30));
        q.ack(again);
    }

    #[tokio::test]
    async fn new_work_past_the_bound_is_refused_whole_and_retries_are_always_taken() {
        let q = InProcessQueue::with_capacity(Duration::from_secs(30), 3);
        assert!(q.enqueue_all(&[task(1), task(1)], Duration::ZERO).await.is_ok());
        assert!(q.enqueue_all(&[task(1), task(1)], Duration::ZERO).await.is_err(), "2 + 2 > 3: none is taken");
        assert_eq!(q.len(), 2);
        assert!(q.enqueue(&task(1), Duration::ZERO).await.is_ok());
        assert!(q.enqueue(&task(1), Duration::ZERO).await.is_err());
        assert!(q.enqueue(&task(2), Duration::ZERO).await.is_ok(), "a retry of accepted work");
        assert_eq!(q.len(), 4);
    }

    #[tokio::test]
    async fn draining_workers_finish_their_task_and_take_no_other() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let q = Arc::new(InProcessQueue::new(Duration::from_secs(30)));
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let finished = Arc::new(AtomicU32::new(0));
        let done = Arc::clone(&finished);
        let handler: TaskHandler = Arc::new(move |_| {
            let (started_tx, done) = (started_tx.clone(), Arc::clone(&done));
            Box::pin(async move {
                let _ = started_tx.send(());
                tokio::time::sleep(Duration::from_millis(200)).await;
                done.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            })
        });
        let (drain, draining) = tokio::sync::watch::channel(false);
        let mut workers = spawn_workers(Arc::clone(&q), 1, handler, draining);
        q.enqueue(&task(0), Duration::ZERO).await.unwrap();
        q.enqueue(&task(1), Duration::ZERO).await.unwrap();
        started.recv().await.unwrap();
        drain.send(true).unwrap();
        while workers.join_next().await.is_some() {}
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the task in hand was finished");
        assert_eq!(q.len(), 1, "the other one is still queued");
    }

    #[tokio::test]
    async fn workers_ack_what_their_handler_finishes() {
        let q = Arc::new(InProcessQueue::new(Duration::from_secs(30)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handler: TaskHandler = Arc::new(move |t| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.send(t.attempt);
                Ok(None)
            })
        });
        let (_drain, draining) = tokio::sync::watch::channel(false);
        let _workers = spawn_workers(Arc::clone(&q), 3, handler, draining);
        for n in 0..10 {
            q.enqueue(&task(n), Duration::ZERO).await.unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(rx.recv().await.unwrap());
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(q.is_empty());
    }
}
