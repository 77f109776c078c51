//! Keeps a worker thread polling its sockets for a short while after client traffic instead
//! of sleeping in `epoll_wait` (opt-in, `--busy-poll-us`).
//!
//! Why: a request arriving for a sleeping thread costs the sender's core a wake-up through
//! the scheduler (the loopback or NIC receive path runs `ep_poll_callback`, which wakes the
//! waiter). A thread that is still polling only finds the socket ready. The window is short
//! and restarts with every read, so an idle node sleeps as before.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

thread_local! {
    /// Reads that returned data on this thread, for the poller to see traffic.
    static READS: Cell<u64> = const { Cell::new(0) };
    /// Set while the poller sleeps: the next read wakes it.
    static SLEEPING: RefCell<Option<Rc<tokio::sync::Notify>>> = const { RefCell::new(None) };
}

/// Called by a connection after a read that returned data.
pub fn note_read() {
    READS.with(|reads| reads.set(reads.get().wrapping_add(1)));
    SLEEPING.with(|sleeping| {
        if let Some(notify) = sleeping.borrow_mut().take() {
            notify.notify_one();
        }
    });
}

/// The poller task of one worker thread: after a read it keeps the runtime polling (each
/// turn one `epoll_wait` without a timeout) until `window` passed without a read.
pub async fn run(window: Duration) {
    let notify = Rc::new(tokio::sync::Notify::new());
    loop {
        let woken = notify.notified();
        SLEEPING.with(|sleeping| *sleeping.borrow_mut() = Some(notify.clone()));
        woken.await;
        let mut seen = READS.with(Cell::get);
        let mut last_read_at = Instant::now();
        loop {
            // Lets another thread on this core (a client, the log writer) run first.
            std::thread::yield_now();
            tokio::task::yield_now().await;
            let reads = READS.with(Cell::get);
            if reads != seen {
                seen = reads;
                last_read_at = Instant::now();
            } else if last_read_at.elapsed() >= window {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poller_sleeps() -> bool {
        SLEEPING.with(|sleeping| sleeping.borrow().is_some())
    }

    /// Lets the poller run: real time passes while this task yields to it.
    async fn pass(time: Duration) {
        let until = Instant::now() + time;
        while Instant::now() < until {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn polls_after_a_read_and_sleeps_once_the_window_passed_without_one() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            tokio::task::spawn_local(run(Duration::from_millis(20)));
            pass(Duration::from_millis(5)).await;
            assert!(poller_sleeps(), "no read yet: the poller sleeps");
            note_read();
            pass(Duration::from_millis(5)).await;
            assert!(!poller_sleeps(), "polling within the window after a read");
            // Reads keep it polling past the first window.
            for _ in 0..4 {
                note_read();
                pass(Duration::from_millis(10)).await;
                assert!(!poller_sleeps(), "each read restarts the window");
            }
            pass(Duration::from_millis(40)).await;
            assert!(poller_sleeps(), "asleep again once a window passed without a read");
        });
    }
}
