//! The node's Redis listener: one thread per core, each with its own single-threaded Tokio
//! runtime and its own `SO_REUSEPORT` listening socket, plus the background expiry cycle.

use crate::conn::Connection;
use crate::node::Node;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often the background cycle reclaims expired keys, and how many keys with a TTL it may
/// examine per database per run (bounding the pause it causes a tenant).
const EXPIRE_CYCLE_INTERVAL: Duration = Duration::from_millis(100);
const EXPIRE_CYCLE_MAX_SAMPLES: usize = 2_000;

/// A started server; dropping it does not stop the threads (they live as long as the process).
pub struct RedisServer {
    pub local_addr: SocketAddr,
    pub threads: Vec<std::thread::JoinHandle<()>>,
}

/// Number of worker threads: the cores this process may run on (respects `taskset`).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds `addr` (port 0 picks a free port) and starts `threads` worker threads.
pub fn start(node: Arc<Node>, addr: SocketAddr, threads: usize) -> std::io::Result<RedisServer> {
    let first = bind_reuseport(addr)?;
    let local_addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads.max(1) {
        listeners.push(bind_reuseport(local_addr)?);
    }
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..listeners.len() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        senders.push(tx);
        receivers.push(rx);
    }
    node.set_workers(senders);
    let mut handles = Vec::new();
    for ((i, listener), handoffs) in listeners.into_iter().enumerate().zip(receivers) {
        let node = node.clone();
        let handle = std::thread::Builder::new().name(format!("redis-{i}")).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a runtime thread");
                    return;
                }
            };
            crate::conn::set_current_worker(i);
            runtime.block_on(async move {
                if i == 0 {
                    tokio::spawn(expire_cycle(node.clone()));
                }
                tokio::spawn(receive_handoffs(handoffs));
                // The poller is not `Send` (thread-local state): it runs beside the accept
                // loop inside this thread's main future rather than as a task.
                let busy_poll = node.limits.busy_poll_window;
                let poller = async move {
                    match busy_poll {
                        Some(window) => crate::busy_poll::run(window).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::join!(accept_loop(node, listener), poller);
            });
        })?;
        handles.push(handle);
    }
    Ok(RedisServer { local_addr, threads: handles })
}

async fn accept_loop(node: Arc<Node>, listener: std::net::TcpListener) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot register the listener");
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(Connection::new(node.clone(), stream).run());
            }
            Err(e) => {
                // Out of file descriptors and similar: log, pause briefly, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Resumes connections handed over by other workers (their tenant lives on this thread).
async fn receive_handoffs(mut handoffs: tokio::sync::mpsc::UnboundedReceiver<Box<crate::conn::Handoff>>) {
    while let Some(handoff) = handoffs.recv().await {
        match handoff.resume() {
            Ok(conn) => {
                tokio::spawn(conn.run());
            }
            Err(e) => tracing::warn!(error = %e, "cannot resume a handed-over connection"),
        }
    }
}

/// Reclaims expired keys in the background in short, bounded steps per tenant.
async fn expire_cycle(node: Arc<Node>) {
    let mut tick = tokio::time::interval(EXPIRE_CYCLE_INTERVAL);
    loop {
        tick.tick().await;
        for tenant in node.tenants.all() {
            // A tenant whose lock is taken (a long script, a snapshot slice) is skipped until
            // the next tick: this worker thread serves other tenants and must not wait.
            let Some(mut state) = tenant.state.try_lock() else { continue };
            if state.db.volatile_len() == 0 {
                continue;
            }
            state.db.set_clock(crate::context::unix_time_ms());
            state.db.active_expire(EXPIRE_CYCLE_MAX_SAMPLES);
            let mut wrote = false;
            for key in state.db.drain_expired() {
                state.db.change_log.append(&[bytes::Bytes::from_static(b"DEL"), bytes::Bytes::copy_from_slice(&key)]);
                wrote = true;
            }
            let backlog = crate::persistence::Backlog::of(&state.db.change_log);
            drop(state);
            if wrote {
                tenant.replication.changes.notify();
            }
            if let (true, Some(p)) = (wrote, &node.persistence) {
                p.notify(&tenant, backlog);
            }
        }
    }
}
