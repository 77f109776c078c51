//! SaslHandshake (17) and SaslAuthenticate (36): choose a mechanism, then exchange SASL
//! messages until the connection is bound to one credential and its cluster.

use crate::frame::{decode_body, encode_body, Request};
use crate::sasl::{Exchange, Mechanism, Step};
use crate::session::{AuthState, Session};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

pub fn handshake(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let body: SaslHandshakeRequest = decode_body(&mut request.body, request.version)?;
    let enabled: Vec<StrBytes> = Mechanism::ALL.iter().map(|m| StrBytes::from_static_str(m.name())).collect();
    let mut response = SaslHandshakeResponse::default().with_mechanisms(enabled);
    match Mechanism::from_name(body.mechanism.as_str()) {
        Some(mechanism) if !session.is_authenticated() => {
            session.auth = AuthState::Exchanging(Exchange::new(mechanism));
            session.mechanism = Some(mechanism);
            // After a v0 handshake the SASL messages come as bare frames, without Kafka headers.
            session.raw_sasl = request.version == 0;
        }
        Some(_) => response.error_code = ResponseError::IllegalSaslState.code(),
        None => response.error_code = ResponseError::UnsupportedSaslMechanism.code(),
    }
    encode_body(&response, request.version)
}

pub fn authenticate(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let body: SaslAuthenticateRequest = decode_body(&mut request.body, request.version)?;
    let response = match std::mem::replace(&mut session.auth, AuthState::Anonymous) {
        AuthState::Exchanging(mut exchange) => match exchange.step(&body.auth_bytes, &session.broker.credentials) {
            Ok(Step::Continue(reply)) => {
                session.auth = AuthState::Exchanging(exchange);
                SaslAuthenticateResponse::default().with_auth_bytes(reply.into())
            }
            Ok(Step::Done { username, reply }) => bind(session, &username, reply),
            Err(e) => {
                tracing::info!(peer = %session.peer, error = %e, "kafka SASL authentication failed");
                failure(ResponseError::SaslAuthenticationFailed, e.to_string())
            }
        },
        other => {
            session.auth = other;
            failure(ResponseError::IllegalSaslState, "SaslAuthenticate without a SaslHandshake first".to_string())
        }
    };
    encode_body(&response, request.version)
}

/// One SASL message of a v0 handshake's exchange (a bare frame); returns the bare reply, or
/// `None` when authentication failed and the connection must close (Kafka's behaviour).
pub fn raw_step(session: &mut Session, message: &[u8]) -> Option<Vec<u8>> {
    let AuthState::Exchanging(mut exchange) = std::mem::replace(&mut session.auth, AuthState::Anonymous) else {
        return None;
    };
    match exchange.step(message, &session.broker.credentials) {
        Ok(Step::Continue(reply)) => {
            session.auth = AuthState::Exchanging(exchange);
            Some(reply)
        }
        Ok(Step::Done { username, reply }) => {
            session.raw_sasl = false;
            let response = bind(session, &username, reply);
            (response.error_code == 0).then(|| response.auth_bytes.to_vec())
        }
        Err(e) => {
            tracing::info!(peer = %session.peer, error = %e, "kafka SASL authentication failed");
            None
        }
    }
}

/// Binds the connection to the credential's cluster.
fn bind(session: &mut Session, username: &str, reply: Vec<u8>) -> SaslAuthenticateResponse {
    let broker = session.broker.clone();
    let found =
        broker.credentials.get(username).and_then(|c| broker.cluster(&c.config.cluster).map(|cluster| (c, cluster)));
    match found {
        Some((credential, cluster)) => {
            tracing::debug!(peer = %session.peer, cluster = %cluster.id, user = username, "kafka client authenticated");
            session.auth = AuthState::Authenticated { credential, cluster };
            SaslAuthenticateResponse::default().with_auth_bytes(reply.into())
        }
        // The credential was revoked during the exchange.
        None => {
            failure(ResponseError::SaslAuthenticationFailed, "Authentication failed: invalid credentials".to_string())
        }
    }
}

fn failure(error: ResponseError, message: String) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}
