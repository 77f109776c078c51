//! What a connection knows about its client: the broker, who authenticated, and the SASL
//! exchange in progress. Handlers get a `Session` and the request.

use crate::access::{Credential, Operation};
use crate::broker::Broker;
use crate::cluster::Cluster;
use crate::sasl::{Exchange, Mechanism};
use std::net::SocketAddr;
use std::sync::Arc;

pub enum AuthState {
    /// Only ApiVersions and SaslHandshake are allowed.
    Anonymous,
    /// SaslHandshake chose a mechanism; SaslAuthenticate messages drive the exchange.
    Exchanging(Exchange),
    Authenticated {
        credential: Arc<Credential>,
        cluster: Arc<Cluster>,
    },
}

pub struct Session {
    pub broker: Arc<Broker>,
    pub peer: SocketAddr,
    pub auth: AuthState,
    /// Set when the handshake chose a mechanism, for the SaslAuthenticate that follows.
    pub mechanism: Option<Mechanism>,
    /// A v0 SaslHandshake was accepted: the next frames are bare SASL messages.
    pub raw_sasl: bool,
}

impl Session {
    pub fn new(broker: Arc<Broker>, peer: SocketAddr) -> Session {
        Session { broker, peer, auth: AuthState::Anonymous, mechanism: None, raw_sasl: false }
    }

    /// The cluster and credential of an authenticated connection. The router only lets
    /// requests through once authenticated, so handlers may rely on it.
    pub fn principal(&self) -> anyhow::Result<(&Arc<Credential>, &Arc<Cluster>)> {
        match &self.auth {
            AuthState::Authenticated { credential, cluster } => Ok((credential, cluster)),
            _ => anyhow::bail!("not authenticated"),
        }
    }

    pub fn cluster(&self) -> anyhow::Result<&Arc<Cluster>> {
        self.principal().map(|(_, c)| c)
    }

    pub fn allows(&self, operation: Operation, topic: &str) -> bool {
        self.principal().is_ok_and(|(credential, _)| credential.allows(operation, topic))
    }

    /// Authenticated with a credential that is still current. A credential revoked or changed
    /// since (the control plane's intent, `Broker::upsert_cluster`/`remove_cluster`) makes
    /// this false, so the connection's next request closes it.
    pub fn is_authenticated(&self) -> bool {
        match &self.auth {
            AuthState::Authenticated { credential, .. } => {
                let current = self.broker.credentials.is_current(credential);
                if !current {
                    tracing::info!(peer = %self.peer, user = %credential.config.username, "credential revoked or changed");
                }
                current
            }
            _ => false,
        }
    }
}
