//! hookpost-local's log lines, gathered in memory and written to stdout together.
//!
//! Every request writes an access line; written one at a time, each is a system call on the
//! request's thread (measured: an eighth of a GET's cost in `hookpost-bench api`). Here a
//! line is appended to a buffer, and a thread of its own writes what gathered every
//! [`WRITE_EVERY`]: a line appears at most that late, in the order it was logged. A buffer
//! past [`HOLD_AT_MOST`] bytes is written by the thread that fills it, so a flood of lines
//! slows its loggers rather than growing memory or dropping any.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait in memory before it is written.
pub const WRITE_EVERY: Duration = Duration::from_millis(20);

/// The bytes held before the logging thread writes them itself.
pub const HOLD_AT_MOST: usize = 1 << 20;

/// Where the lines go: stdout in the binary, a shared buffer in the tests.
pub type Output = Box<dyn Write + Send>;

struct Shared {
    /// The lines not yet written.
    pending: Mutex<Vec<u8>>,
    /// Held while a batch is taken and written, so batches reach the output in order.
    output: Mutex<Output>,
    stopping: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        // A thread that panicked mid-line leaves a line cut short, not a buffer unusable.
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what is pending. Errors writing to stdout have nowhere to be reported.
    fn write_pending(&self) {
        let mut output = Self::lock(&self.output);
        let batch = std::mem::take(&mut *Self::lock(&self.pending));
        if !batch.is_empty() {
            let _ = output.write_all(&batch);
            let _ = output.flush();
        }
    }
}

/// The `MakeWriter` given to the tracing subscriber; cheap to clone.
#[derive(Clone)]
pub struct LogLines(Arc<Shared>);

/// Stops the writing thread when dropped, after writing every line logged before.
pub struct LogLinesGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogLines {
    /// Lines to `output`, written every [`WRITE_EVERY`] by a thread named `hookpost-log`.
    pub fn new(output: Output) -> std::io::Result<(Self, LogLinesGuard)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            output: Mutex::new(output),
            stopping: Mutex::new(false),
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("hookpost-log".to_owned()).spawn(move || loop {
            let stopping = Shared::lock(&worker.stopping);
            let (stopping, _) = worker.wake.wait_timeout(stopping, WRITE_EVERY).unwrap_or_else(PoisonError::into_inner);
            let stop = *stopping;
            drop(stopping);
            worker.write_pending();
            if stop {
                return;
            }
        })?;
        Ok((Self(Arc::clone(&shared)), LogLinesGuard { shared, thread: Some(thread) }))
    }
}

impl Drop for LogLinesGuard {
    fn drop(&mut self) {
        *Shared::lock(&self.shared.stopping) = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Lines logged while the thread was stopping.
        self.shared.write_pending();
    }
}

/// One event's line (the subscriber formats a whole line, then writes it at once).
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut pending = Shared::lock(&self.0.pending);
            pending.extend_from_slice(buf);
            pending.len() >= HOLD_AT_MOST
        };
        if full {
            self.0.write_pending();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    /// An output the test can read, counting its writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut captured = self.0.lock().unwrap();
            captured.0.extend_from_slice(buf);
            captured.1 += 1;
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }

        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    #[test]
    fn lines_are_written_together_in_order_within_the_interval() {
        let captured = Captured::default();
        let (lines, guard) = LogLines::new(Box::new(captured.clone())).unwrap();
        for i in 0..1000 {
            writeln!(lines.make_writer(), "line {i}").unwrap();
        }
        std::thread::sleep(WRITE_EVERY * 10);
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(captured.text(), expected, "every line, in order, without the guard's help");
        assert!(captured.writes() < 100, "{} writes for 1,000 lines", captured.writes());
        drop(guard);
    }

    #[test]
    fn the_guard_writes_what_is_pending() {
        let captured = Captured::default();
        let (lines, guard) = LogLines::new(Box::new(captured.clone())).unwrap();
        writeln!(lines.make_writer(), "the last words").unwrap();
        drop(guard);
        assert_eq!(captured.text(), "the last words\n");
    }

    #[test]
    fn a_full_buffer_is_written_by_its_logger_in_order() {
        let captured = Captured::default();
        let (lines, guard) = LogLines::new(Box::new(captured.clone())).unwrap();
        let line = "x".repeat(1023) + "\n";
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lines = lines.clone();
                let line = line.clone();
                std::thread::spawn(move || {
                    for _ in 0..2048 {
                        lines.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(lines.0.pending.lock().unwrap().len() < HOLD_AT_MOST, "never more than the limit held");
        drop(guard);
        let text = captured.text();
        assert_eq!(text.len(), 4 * 2048 * 1024, "no line lost");
        assert!(text.lines().all(|l| l.len() == 1023), "no line cut or interleaved");
    }
}
