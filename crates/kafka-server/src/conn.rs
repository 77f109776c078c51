//! The Kafka listener and one task per connection: read a frame, route it, write the response.
//! Requests of one connection are answered one at a time and in order, as Kafka does.

use crate::broker::Broker;
use crate::frame::{self, Request};
use crate::router::{self, Auth, Handler};
use crate::session::Session;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Most connections served at once by one broker; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let broker = broker.clone();
                tokio::spawn(async move {
                    serve_connection(broker, stream, peer).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "kafka accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

pub async fn serve_connection(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let max_request_bytes = broker.limits.max_request_bytes;
    let mut session = Session::new(broker, peer);
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let frame = match frame::take_frame(&mut buf, max_request_bytes) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if buf.capacity() - buf.len() < 4096 {
                    buf.reserve(64 * 1024);
                }
                match reader.read_buf(&mut buf).await {
                    Ok(0) => return,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "kafka connection read failed");
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing kafka connection");
                return;
            }
        };
        if session.raw_sasl {
            let Some(reply) = crate::apis::sasl::raw_step(&mut session, &frame) else { return };
            let mut out = Vec::with_capacity(4 + reply.len());
            out.extend_from_slice(&(reply.len() as u32).to_be_bytes());
            out.extend_from_slice(&reply);
            if writer.write_all(&out).await.is_err() {
                return;
            }
            continue;
        }
        let request = match frame::parse_request(frame) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing kafka connection");
                return;
            }
        };
        let Some(response) = dispatch(&mut session, request).await else { return };
        if !response.is_empty() {
            if let Err(e) = writer.write_all(&response).await {
                tracing::debug!(%peer, error = %e, "kafka connection write failed");
                return;
            }
        }
    }
}

/// Runs one request; `None` closes the connection (what Kafka does with a request it cannot
/// serve: unknown API, unsupported version, or anything before authentication).
pub async fn dispatch(session: &mut Session, mut request: Request) -> Option<Bytes> {
    let peer = session.peer;
    let api_key = request.api_key;
    let version = request.version;
    let correlation_id = request.header.correlation_id;
    let Some(route) = router::route(api_key) else {
        tracing::warn!(%peer, ?api_key, "unsupported Kafka API; closing the connection");
        return None;
    };
    if version < route.min_version || version > route.max_version {
        if api_key == ApiKey::ApiVersions {
            let body = crate::apis::api_versions::unsupported_version_body();
            return Some(frame::encode_response(api_key, 0, correlation_id, &body));
        }
        tracing::warn!(%peer, ?api_key, version, "unsupported Kafka API version; closing the connection");
        return None;
    }
    if route.auth == Auth::Required && !session.is_authenticated() {
        tracing::warn!(%peer, ?api_key, "Kafka request before SASL authentication; closing the connection");
        return None;
    }
    let result = match route.handler {
        Handler::Now(handler) => handler(session, &mut request),
        Handler::Later(handler) => handler(session, request).await,
    };
    match result {
        // An empty body means the request expects no response (Produce with acks=0).
        Ok(body) if body.is_empty() => Some(Bytes::new()),
        Ok(body) => Some(frame::encode_response(api_key, version, correlation_id, &body)),
        Err(e) => {
            tracing::warn!(%peer, ?api_key, version, error = format!("{e:#}"), "bad Kafka request; closing the connection");
            None
        }
    }
}
