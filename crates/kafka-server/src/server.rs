//! Starts the Kafka listener on its own threads, beside the Redis ones.

use crate::broker::Broker;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct KafkaServer {
    pub local_addr: SocketAddr,
}

/// Binds `addr` and serves Kafka clients on a runtime of `threads` worker threads. The port
/// actually bound becomes the advertised port unless one was set.
pub fn start(broker: Arc<Broker>, addr: SocketAddr, threads: usize) -> std::io::Result<KafkaServer> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("kafka")
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
    let local_addr = listener.local_addr()?;
    {
        let mut advertised = broker.advertised.write();
        if advertised.1 == 0 {
            advertised.1 = i32::from(local_addr.port());
        }
        if advertised.0.is_empty() {
            advertised.0 = local_addr.ip().to_string();
        }
    }
    std::thread::Builder::new().name("kafka-listener".into()).spawn(move || {
        runtime.block_on(crate::conn::serve(listener, broker));
    })?;
    Ok(KafkaServer { local_addr })
}
