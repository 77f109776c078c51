//! ApiVersions (18): the list of APIs and versions, generated from the router table.

use crate::frame::{decode_body, encode_body, Request};
use crate::router::ROUTES;
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

fn advertised() -> Vec<ApiVersion> {
    ROUTES
        .iter()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.key as i16)
                .with_min_version(r.min_version)
                .with_max_version(r.max_version)
        })
        .collect()
}

pub fn handle(_session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    // The body only carries the client's name and version (v3+), kept for logs.
    if version >= 3 {
        let body: ApiVersionsRequest = decode_body(&mut request.body, version)?;
        tracing::debug!(client = %body.client_software_name.as_str(), version = %body.client_software_version.as_str(), "kafka client");
    }
    let response = ApiVersionsResponse::default().with_api_keys(advertised());
    encode_body(&response, version)
}

/// The answer to a version this broker does not serve: UNSUPPORTED_VERSION in the v0 layout,
/// listing at least ApiVersions' own range, so the client retries with a version it finds
/// there (pitfall 2 of the guide).
pub fn unsupported_version_body() -> Bytes {
    let own = ROUTES.iter().filter(|r| r.key == ApiKey::ApiVersions).map(|r| {
        ApiVersion::default().with_api_key(r.key as i16).with_min_version(r.min_version).with_max_version(r.max_version)
    });
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(own.collect());
    encode_body(&response, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn unsupported_version_reply_lists_api_versions_in_v0_layout() {
        let mut body = unsupported_version_body();
        let decoded = ApiVersionsResponse::decode(&mut body, 0).unwrap();
        assert_eq!(decoded.error_code, 35);
        assert_eq!(decoded.api_keys.len(), 1);
        assert_eq!(decoded.api_keys[0].api_key, ApiKey::ApiVersions as i16);
        assert_eq!(decoded.api_keys[0].max_version, 3);
    }

    #[test]
    fn every_route_is_advertised_once() {
        let listed = advertised();
        assert_eq!(listed.len(), ROUTES.len());
        for route in ROUTES {
            assert_eq!(listed.iter().filter(|v| v.api_key == route.key as i16).count(), 1);
            assert!(route.min_version >= route.key.valid_versions().min, "{:?} below the codec's floor", route.key);
            assert!(route.max_version <= route.key.valid_versions().max, "{:?} above the codec", route.key);
        }
    }
}
