//! The TLS channel to the helper.

use std::time::Duration;

use prikk_proto::pb::helper_aggregation_client::HelperAggregationClient;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use super::CollectError;
use crate::config::HelperEndpoint;

/// Connects to the helper.
pub async fn connect(
    helper: &HelperEndpoint,
) -> Result<HelperAggregationClient<tonic::transport::Channel>, CollectError> {
    let fail = |problem: String| CollectError::Transport {
        url: helper.url.clone(),
        problem,
    };
    let mut endpoint = Endpoint::from_shared(helper.url.clone())
        .map_err(|e| fail(e.to_string()))?
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(600));
    let uri = endpoint.uri().clone();
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    match uri.scheme_str() {
        Some("https") => {
            let ca_path = helper
                .ca_certificate
                .as_ref()
                .ok_or_else(|| fail("https needs helper.ca_certificate".into()))?;
            let pem = std::fs::read(ca_path)
                .map_err(|e| fail(format!("reading {}: {e}", ca_path.display())))?;
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(pem))
                .domain_name(helper.tls_server_name.clone().unwrap_or(host));
            endpoint = endpoint.tls_config(tls).map_err(|e| fail(e.to_string()))?;
        }
        Some("http") => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_loopback());
            if !helper.insecure_plaintext || !loopback {
                return Err(fail(
                    "plaintext only to a loopback helper with helper.insecure_plaintext = true"
                        .into(),
                ));
            }
        }
        _ => {
            return Err(fail(
                "the URL must start with https:// (or http:// on loopback)".into(),
            ));
        }
    }
    let channel = endpoint.connect().await.map_err(|e| fail(e.to_string()))?;
    Ok(HelperAggregationClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}
