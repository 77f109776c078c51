//! Connections waiting for their writes to be durable (`always` databases): one wake-up per
//! worker thread per fsync instead of one per waiting connection.
//!
//! Why: a task woken from another thread costs its runtime an `eventfd` write (Tokio's
//! current-thread scheduler unparks its driver for every remote wake). With 50 clients at
//! pipeline 1 the log writer woke ~17 connections per fsync one by one, ~100,000 `write`
//! syscalls for 60,000 SETs, all in the writer's path between two fsyncs. Now the writer rings
//! one doorbell per worker thread that has waiters; a relay task on that thread wakes its own
//! connections, which is a local run-queue push.

use crate::tenant::Tenant;
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

/// Every worker thread's waiters, for the writer to ring.
#[derive(Default)]
pub struct DurableWaits {
    threads: Mutex<Vec<Arc<ThreadWaits>>>,
}

/// The waiters of one worker thread and the doorbell of its relay task.
#[derive(Default)]
struct ThreadWaits {
    doorbell: tokio::sync::Notify,
    waiting: Mutex<Vec<Waiting>>,
}

/// A connection waiting until `tenant`'s durable offset reaches `offset`. The tenant is held
/// weakly so that a waiter whose connection went away never keeps a removed database alive.
struct Waiting {
    tenant: Weak<Tenant>,
    offset: u64,
    waker: Waker,
}

thread_local! {
    /// This thread's waiters, created (with its relay task) by the first wait on the thread.
    static THREAD_WAITS: std::cell::RefCell<Option<Arc<ThreadWaits>>> = const { std::cell::RefCell::new(None) };
}

/// True when a waiter may go on: its records are durable, or the log failed (the connection
/// then sees the error instead of hanging).
fn settled(tenant: &Tenant, offset: u64) -> bool {
    *tenant.durable_offset.borrow() >= offset || tenant.disk_error.load(Ordering::SeqCst)
}

impl DurableWaits {
    /// Called by the log writer after a database's durable offset moved or its log failed:
    /// wakes the relay of every thread with waiters.
    ///
    /// Ordering: a waiter registers itself under its thread's list lock *before* it reads
    /// the durable offset, and the writer publishes the offset *before* looking at the lists
    /// here, so either the waiter sees the new offset or the writer sees the waiter.
    pub fn ring(&self) {
        for thread in self.threads.lock().iter() {
            if !thread.waiting.lock().is_empty() {
                thread.doorbell.notify_one();
            }
        }
    }

    /// Waits until `tenant`'s records up to `offset` are durable (or its log failed). Must be
    /// called inside a Tokio runtime (the relay task is spawned on the first call of a thread).
    pub fn wait(self: &Arc<Self>, tenant: &Arc<Tenant>, offset: u64) -> DurableWait {
        DurableWait { waits: self.thread_waits(), tenant: tenant.clone(), offset }
    }

    fn thread_waits(self: &Arc<Self>) -> Arc<ThreadWaits> {
        THREAD_WAITS.with(|slot| {
            if let Some(waits) = slot.borrow().as_ref() {
                return waits.clone();
            }
            let waits = Arc::new(ThreadWaits::default());
            self.threads.lock().push(waits.clone());
            tokio::spawn(relay(waits.clone()));
            *slot.borrow_mut() = Some(waits.clone());
            waits
        })
    }
}

/// The future of [`DurableWaits::wait`].
pub struct DurableWait {
    waits: Arc<ThreadWaits>,
    tenant: Arc<Tenant>,
    offset: u64,
}

impl Future for DurableWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if settled(&self.tenant, self.offset) {
            return Poll::Ready(());
        }
        self.waits.waiting.lock().push(Waiting {
            tenant: Arc::downgrade(&self.tenant),
            offset: self.offset,
            waker: cx.waker().clone(),
        });
        // Read again after registering (see `ring`): the offset may have moved in between.
        if settled(&self.tenant, self.offset) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// One per worker thread: on each ring, wakes the thread's waiters that may go on and keeps
/// the others. Waiters of databases that no longer exist are dropped.
async fn relay(waits: Arc<ThreadWaits>) {
    let mut ready = Vec::new();
    loop {
        waits.doorbell.notified().await;
        waits.waiting.lock().retain(|w| match w.tenant.upgrade() {
            Some(tenant) if !settled(&tenant, w.offset) => true,
            Some(_) => {
                ready.push(w.waker.clone());
                false
            }
            None => false,
        });
        for waker in ready.drain(..) {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::TenantId;
    use std::time::Duration;

    fn tenant(id: &str) -> Arc<Tenant> {
        Arc::new(Tenant::new(TenantId(id.into()), bytes::Bytes::from_static(b"pw"), &Default::default()))
    }

    /// Runs `waiters` waits for offset 5 on a current-thread runtime of its own (as a worker
    /// thread does) and returns how many finished within `within`.
    fn spawn_waiters(
        waits: &Arc<DurableWaits>,
        tenant: &Arc<Tenant>,
        waiters: usize,
    ) -> std::thread::JoinHandle<usize> {
        let (waits, tenant) = (waits.clone(), tenant.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let tasks: Vec<_> = (0..waiters)
                    .map(|_| {
                        let wait = waits.wait(&tenant, 5);
                        tokio::spawn(tokio::time::timeout(Duration::from_secs(5), wait))
                    })
                    .collect();
                let mut done = 0;
                for task in tasks {
                    if matches!(task.await, Ok(Ok(()))) {
                        done += 1;
                    }
                }
                done
            })
        })
    }

    fn waiting_count(waits: &DurableWaits) -> usize {
        waits.threads.lock().iter().map(|t| t.waiting.lock().len()).sum()
    }

    #[test]
    fn one_ring_releases_the_waiters_of_every_thread_once_durable() {
        let waits = Arc::new(DurableWaits::default());
        let db = tenant("a");
        let threads = [spawn_waiters(&waits, &db, 20), spawn_waiters(&waits, &db, 20)];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while waiting_count(&waits) < 40 {
            assert!(std::time::Instant::now() < deadline, "waiters did not register");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Not far enough yet: a ring wakes nobody, everyone keeps waiting.
        db.durable_offset.send_replace(4);
        waits.ring();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(waiting_count(&waits), 40);
        db.durable_offset.send_replace(5);
        waits.ring();
        let released: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(released, 40);
        assert_eq!(waiting_count(&waits), 0);
    }

    #[test]
    fn a_failed_log_releases_waiters_and_a_gone_database_is_forgotten() {
        let waits = Arc::new(DurableWaits::default());
        let failing = tenant("failing");
        let handle = spawn_waiters(&waits, &failing, 3);
        while waiting_count(&waits) < 3 {
            std::thread::sleep(Duration::from_millis(5));
        }
        failing.disk_error.store(true, Ordering::SeqCst);
        waits.ring();
        assert_eq!(handle.join().unwrap(), 3);

        // A waiter whose database is gone (its connection closed) is dropped at the next ring.
        let gone = tenant("gone");
        waits.threads.lock()[0].waiting.lock().push(Waiting {
            tenant: Arc::downgrade(&gone),
            offset: 1,
            waker: Waker::noop().clone(),
        });
        drop(gone);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Ringing needs the relay of that thread, which ended with its runtime: run one here.
        let thread = waits.threads.lock()[0].clone();
        runtime.spawn(relay(thread));
        waits.ring();
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
        assert_eq!(waiting_count(&waits), 0);
    }
}
