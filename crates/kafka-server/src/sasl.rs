//! SASL authentication without I/O: PLAIN and SCRAM-SHA-256/512 (RFC 5802/7677), the
//! mechanisms Kafka clients offer. The exchange is driven by SaslAuthenticate requests.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

/// Iterations of PBKDF2 for SCRAM, as Kafka's default (4096).
pub const SCRAM_ITERATIONS: u32 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    pub const ALL: [Mechanism; 3] = [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::ScramSha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            _ => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::ScramSha512 => Sha512::digest(data).to_vec(),
            _ => Sha256::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Mechanism::ScramSha512 => {
                let mut out = vec![0u8; 64];
                let _ = pbkdf2::pbkdf2::<Hmac<Sha512>>(password, salt, iterations, &mut out);
                out
            }
            _ => {
                let mut out = vec![0u8; 32];
                let _ = pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// What the server keeps to check SCRAM proofs without the password (RFC 5802 section 3).
#[derive(Clone, Debug)]
pub struct ScramSecret {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl ScramSecret {
    pub fn derive(mechanism: Mechanism, password: &[u8], salt: Vec<u8>, iterations: u32) -> ScramSecret {
        let salted = mechanism.salted_password(password, &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        ScramSecret {
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(&salted, b"Server Key"),
            salt,
            iterations,
        }
    }

    pub fn generate(mechanism: Mechanism, password: &[u8]) -> ScramSecret {
        let mut salt = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        ScramSecret::derive(mechanism, password, salt, SCRAM_ITERATIONS)
    }
}

/// The secrets of one user, as the authenticator needs them.
pub trait UserStore {
    /// The plain password, for PLAIN.
    fn plain_password(&self, username: &str) -> Option<Vec<u8>>;
    fn scram_secret(&self, username: &str, mechanism: Mechanism) -> Option<ScramSecret>;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    #[error("Authentication failed: invalid credentials")]
    BadCredentials,
    #[error("Authentication failed: malformed {0} message")]
    Malformed(&'static str),
    #[error("Authentication failed: unexpected SaslAuthenticate after the exchange ended")]
    Finished,
}

/// Where an exchange stands after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes back and wait for the client's next message.
    Continue(Vec<u8>),
    /// Authenticated as `username`; send these bytes (possibly empty) back.
    Done { username: String, reply: Vec<u8> },
}

/// One authentication exchange on one connection.
pub enum Exchange {
    Plain,
    ScramFirst(Mechanism),
    ScramFinal { mechanism: Mechanism, username: String, secret: ScramSecret, nonce: String, auth_prefix: String },
    Ended,
}

impl Exchange {
    pub fn new(mechanism: Mechanism) -> Exchange {
        match mechanism {
            Mechanism::Plain => Exchange::Plain,
            scram => Exchange::ScramFirst(scram),
        }
    }

    /// Feeds the client's next message.
    pub fn step(&mut self, message: &[u8], users: &dyn UserStore) -> Result<Step, SaslError> {
        match std::mem::replace(self, Exchange::Ended) {
            Exchange::Plain => plain(message, users),
            Exchange::ScramFirst(mechanism) => {
                let (next, reply) = scram_first(mechanism, message, users)?;
                *self = next;
                Ok(Step::Continue(reply))
            }
            Exchange::ScramFinal { mechanism, username, secret, nonce, auth_prefix } => {
                scram_final(mechanism, message, &secret, &nonce, &auth_prefix)
                    .map(|reply| Step::Done { username, reply })
            }
            Exchange::Ended => Err(SaslError::Finished),
        }
    }
}

fn plain(message: &[u8], users: &dyn UserStore) -> Result<Step, SaslError> {
    // authzid NUL authcid NUL password
    let mut parts = message.split(|b| *b == 0);
    let (Some(_authzid), Some(user), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed("PLAIN"));
    };
    let username = std::str::from_utf8(user).map_err(|_| SaslError::Malformed("PLAIN"))?;
    match users.plain_password(username) {
        Some(expected) if constant_time_eq(&expected, password) => {
            Ok(Step::Done { username: username.to_string(), reply: Vec::new() })
        }
        _ => Err(SaslError::BadCredentials),
    }
}

/// Reads `key=value` attributes of a SCRAM message.
fn attribute(message: &str, key: char) -> Option<&str> {
    message.split(',').find_map(|part| part.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// Decodes a SCRAM `saslname` (`=2C` is a comma, `=3D` an equals sign).
fn decode_saslname(name: &str) -> String {
    name.replace("=2C", ",").replace("=3D", "=")
}

fn scram_first(mechanism: Mechanism, message: &[u8], users: &dyn UserStore) -> Result<(Exchange, Vec<u8>), SaslError> {
    const WHAT: &str = "SCRAM client-first";
    let text = std::str::from_utf8(message).map_err(|_| SaslError::Malformed(WHAT))?;
    // gs2-header: channel binding flag, optional authzid, then the bare message.
    let mut gs2 = text.splitn(3, ',');
    let (Some(flag), Some(_authzid), Some(bare)) = (gs2.next(), gs2.next(), gs2.next()) else {
        return Err(SaslError::Malformed(WHAT));
    };
    if !(flag == "n" || flag == "y") {
        // "p=" asks for channel binding, which Kafka never uses.
        return Err(SaslError::Malformed(WHAT));
    }
    let username = decode_saslname(attribute(bare, 'n').ok_or(SaslError::Malformed(WHAT))?);
    let client_nonce = attribute(bare, 'r').ok_or(SaslError::Malformed(WHAT))?;
    // An unknown user gets the same failure as a wrong password, after the final message,
    // so that user names cannot be probed; a made-up secret keeps the exchange going.
    // Its empty stored key matches no proof.
    let secret = users.scram_secret(&username, mechanism).unwrap_or_else(|| {
        let mut salt = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        ScramSecret { salt, iterations: SCRAM_ITERATIONS, stored_key: Vec::new(), server_key: Vec::new() }
    });
    let mut server_nonce = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut server_nonce);
    let nonce = format!("{client_nonce}{}", BASE64.encode(server_nonce));
    let server_first = format!("r={nonce},s={},i={}", BASE64.encode(&secret.salt), secret.iterations);
    let auth_prefix = format!("{bare},{server_first}");
    Ok((Exchange::ScramFinal { mechanism, username, secret, nonce, auth_prefix }, server_first.into_bytes()))
}

fn scram_final(
    mechanism: Mechanism,
    message: &[u8],
    secret: &ScramSecret,
    nonce: &str,
    auth_prefix: &str,
) -> Result<Vec<u8>, SaslError> {
    const WHAT: &str = "SCRAM client-final";
    let text = std::str::from_utf8(message).map_err(|_| SaslError::Malformed(WHAT))?;
    let proof_at = text.rfind(",p=").ok_or(SaslError::Malformed(WHAT))?;
    let without_proof = &text[..proof_at];
    let proof = BASE64.decode(&text[proof_at + 3..]).map_err(|_| SaslError::Malformed(WHAT))?;
    // librdkafka sends its own nonce again in front of the combined one; Kafka accepts a
    // nonce that ends with the server's, and so does Tern. The proof still covers it all.
    if !attribute(without_proof, 'r').is_some_and(|r| r.ends_with(nonce)) {
        return Err(SaslError::BadCredentials);
    }
    let auth_message = format!("{auth_prefix},{without_proof}");
    let client_signature = mechanism.hmac(&secret.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return Err(SaslError::BadCredentials);
    }
    let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
    if secret.stored_key.is_empty() || !constant_time_eq(&mechanism.hash(&client_key), &secret.stored_key) {
        return Err(SaslError::BadCredentials);
    }
    let server_signature = mechanism.hmac(&secret.server_key, auth_message.as_bytes());
    Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Users(HashMap<String, (Vec<u8>, ScramSecret, ScramSecret)>);

    impl Users {
        fn with(user: &str, password: &str) -> Users {
            let p = password.as_bytes();
            Users(HashMap::from([(
                user.to_string(),
                (
                    p.to_vec(),
                    ScramSecret::generate(Mechanism::ScramSha256, p),
                    ScramSecret::generate(Mechanism::ScramSha512, p),
                ),
            )]))
        }
    }

    impl UserStore for Users {
        fn plain_password(&self, username: &str) -> Option<Vec<u8>> {
            self.0.get(username).map(|u| u.0.clone())
        }
        fn scram_secret(&self, username: &str, mechanism: Mechanism) -> Option<ScramSecret> {
            self.0.get(username).map(|u| if mechanism == Mechanism::ScramSha512 { u.2.clone() } else { u.1.clone() })
        }
    }

    #[test]
    fn plain_accepts_the_right_password_only() {
        let users = Users::with("alice", "s3cret");
        let ok = Exchange::new(Mechanism::Plain).step(b"\0alice\0s3cret", &users);
        assert_eq!(ok, Ok(Step::Done { username: "alice".into(), reply: vec![] }));
        assert_eq!(Exchange::new(Mechanism::Plain).step(b"\0alice\0nope", &users), Err(SaslError::BadCredentials));
        assert_eq!(Exchange::new(Mechanism::Plain).step(b"\0bob\0s3cret", &users), Err(SaslError::BadCredentials));
        assert_eq!(Exchange::new(Mechanism::Plain).step(b"alice", &users), Err(SaslError::Malformed("PLAIN")));
    }

    /// The client side of SCRAM, written from RFC 5802, to drive the server side.
    fn client_final(
        mechanism: Mechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, Vec<u8>) {
        let nonce = attribute(server_first, 'r').unwrap();
        let salt = BASE64.decode(attribute(server_first, 's').unwrap()).unwrap();
        let iterations: u32 = attribute(server_first, 'i').unwrap().parse().unwrap();
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let server_key = mechanism.hmac(&salted, b"Server Key");
        let expected_server_signature = mechanism.hmac(&server_key, auth_message.as_bytes());
        (format!("{without_proof},p={}", BASE64.encode(proof)), expected_server_signature)
    }

    fn scram_round(mechanism: Mechanism, user: &str, password: &str, users: &Users) -> Result<Step, SaslError> {
        let mut exchange = Exchange::new(mechanism);
        let bare = format!("n={user},r=fyko+d2lbbFgONRv9qkxdawL");
        let Step::Continue(server_first) = exchange.step(format!("n,,{bare}").as_bytes(), users)? else {
            panic!("SCRAM must continue after the first message");
        };
        let server_first = String::from_utf8(server_first).unwrap();
        assert!(server_first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
        let (final_message, expected) = client_final(mechanism, password, &bare, &server_first);
        let step = exchange.step(final_message.as_bytes(), users)?;
        if let Step::Done { reply, .. } = &step {
            assert_eq!(reply, &format!("v={}", BASE64.encode(expected)).into_bytes());
        }
        Ok(step)
    }

    #[test]
    fn scram_sha256_and_sha512_authenticate_and_reject() {
        let users = Users::with("alice", "pencil");
        for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
            assert!(
                matches!(scram_round(mechanism, "alice", "pencil", &users), Ok(Step::Done { username, .. }) if username == "alice")
            );
            assert_eq!(scram_round(mechanism, "alice", "wrong", &users), Err(SaslError::BadCredentials));
            assert_eq!(scram_round(mechanism, "mallory", "pencil", &users), Err(SaslError::BadCredentials));
        }
    }

    #[test]
    fn scram_rejects_garbage() {
        let users = Users::with("alice", "pencil");
        let mut exchange = Exchange::new(Mechanism::ScramSha256);
        assert_eq!(
            exchange.step(b"p=tls-unique,,n=alice,r=x", &users),
            Err(SaslError::Malformed("SCRAM client-first"))
        );
        let mut exchange = Exchange::new(Mechanism::ScramSha256);
        assert!(matches!(exchange.step(b"n,,n=alice,r=abc", &users), Ok(Step::Continue(_))));
        assert_eq!(exchange.step(b"c=biws,r=abc", &users), Err(SaslError::Malformed("SCRAM client-final")));
        assert_eq!(exchange.step(b"anything", &users), Err(SaslError::Finished));
    }
}
