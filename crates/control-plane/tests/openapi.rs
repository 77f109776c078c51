//! The OpenAPI document: `docs/openapi.json` is what the code generates, every documented
//! operation reaches its handler in the real router with the documented auth, each path
//! answers 405 to the methods it does not document, and the server serves the document.

mod common;

use common::{Backend, Server, TestDb};
use serde_json::Value;

/// How to bring `docs/openapi.json` up to date, from the workspace root.
const REGENERATE: &str = "cargo run -p tern -- control-plane openapi > docs/openapi.json";

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn document() -> Value {
    serde_json::from_str(&control_plane::openapi_json().unwrap()).unwrap()
}

/// `/v1/databases/{name}` → `/v1/databases/x`.
fn concrete(template: &str) -> String {
    template.split('/').map(|part| if part.starts_with('{') { "x" } else { part }).collect::<Vec<_>>().join("/")
}

fn server() -> Server {
    common::start(TestDb::create(Backend::Sqlite).unwrap())
}

#[test]
fn checked_in_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let generated = control_plane::openapi_json().unwrap();
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    let same_lines = generated.lines().zip(checked_in.lines()).take_while(|(a, b)| a == b).count();
    assert!(
        generated == checked_in,
        "docs/openapi.json is not what the code generates (first difference at line {}); \
         regenerate it from the workspace root with `{REGENERATE}`",
        same_lines + 1,
    );
}

#[test]
fn every_documented_operation_reaches_its_handler_with_its_auth() {
    let s = server();
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (template, item) in paths {
        let path = concrete(template);
        for method in METHODS {
            let (status, body) = s.call(method, &path, None, None);
            let Some(operation) = item.get(method.to_lowercase()) else {
                assert_eq!(status, 405, "{method} {template} is served but not documented: {body}");
                continue;
            };
            operations += 1;
            assert_ne!(body["error"], "no such API route", "{method} {template} is documented but not routed");
            let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            let expected = if secured { 401 } else { 200 };
            assert_eq!(status, expected, "{method} {template} without a token (secured: {secured}): {body}");
            assert!(
                operation["responses"].get(status.to_string()).is_some(),
                "{method} {template} answered {status}, which it does not document"
            );
        }
    }
    // The API has 25 operations besides the document itself and the console's 7 files; the
    // check above proves each documented one is routed, this one that the set did not
    // silently shrink.
    assert!(operations >= 33, "only {operations} operations documented");
}

#[test]
fn operation_ids_are_unique_and_security_names_declared_schemes() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut ids = std::collections::HashSet::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id), "operationId '{id}' of {method} {template} is used twice");
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{method} {template} names unknown scheme '{name}'");
                }
            }
        }
    }
}

#[test]
fn served_without_a_token() {
    let s = server();
    let (status, served) = s.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(served, document());
    assert_eq!(served["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
}
