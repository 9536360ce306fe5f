//! The address phones reach a media pod at, when the pod runs on the node's
//! network in a cloud: the node's public address. The downward API only
//! gives `status.hostIP`, the node's internal address, so with
//! `ASTERISM_MEDIA_ADVERTISE=k8s-node` the service asks the Kubernetes API
//! for its own node (`K8S_NODE_NAME`, with the pod's service account; the
//! chart grants `get` on nodes) and takes, in order: the node's
//! `asterism.io/public-ip` annotation, the same label (both let an operator
//! pin an address per node, e.g. an elastic IP), then its `ExternalIP`.
//! A node with none of them stops the service at start with the reason:
//! advertising an address phones cannot reach would lose every call's audio.

mod https;

use serde_json::Value;
use std::net::IpAddr;
use std::path::PathBuf;

/// The `ASTERISM_MEDIA_ADVERTISE` value that asks for the node's address.
pub const FROM_NODE: &str = "k8s-node";
/// The per-node override (annotation or label).
pub const PUBLIC_IP_KEY: &str = "asterism.io/public-ip";
/// Where the service account's token and CA are (overridable for tests).
pub const ENV_SA_DIR: &str = "ASTERISM_K8S_SA_DIR";
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Look up this pod's node and pick its public address.
pub async fn public_address() -> Result<IpAddr, String> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let node = var("K8S_NODE_NAME")?;
    let host = var("KUBERNETES_SERVICE_HOST")?;
    let port: u16 = var("KUBERNETES_SERVICE_PORT")?
        .parse()
        .map_err(|_| "KUBERNETES_SERVICE_PORT is not a port".to_owned())?;
    let dir = PathBuf::from(std::env::var(ENV_SA_DIR).unwrap_or_else(|_| SA_DIR.to_owned()));
    let read =
        |f: &str| std::fs::read(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()));
    let token = String::from_utf8_lossy(&read("token")?).trim().to_owned();
    let ca = read("ca.crt")?;
    let path = format!("/api/v1/nodes/{node}");
    let body = https::get(&host, port, &ca, &path, &token).await?;
    let json: Value =
        serde_json::from_slice(&body).map_err(|e| format!("node {node}: not JSON: {e}"))?;
    pick(&json).ok_or_else(|| {
        format!(
            "node {node} has no {PUBLIC_IP_KEY} annotation or label and no ExternalIP: \
             annotate it (kubectl annotate node {node} {PUBLIC_IP_KEY}=<address>), or set \
             media.advertise, or advertise the node's internal address (hostIP)"
        )
    })
}

/// The address a Node object names for phones.
pub fn pick(node: &Value) -> Option<IpAddr> {
    let meta = |kind: &str| node["metadata"][kind][PUBLIC_IP_KEY].as_str();
    let pinned = meta("annotations").or_else(|| meta("labels"));
    if let Some(ip) = pinned.and_then(|v| v.trim().parse().ok()) {
        return Some(ip);
    }
    node["status"]["addresses"]
        .as_array()?
        .iter()
        .filter(|a| a["type"] == "ExternalIP")
        .find_map(|a| a["address"].as_str()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_wins_then_the_label_then_the_external_ip() {
        let mut node = serde_json::json!({
            "metadata": {"name": "n1", "annotations": {PUBLIC_IP_KEY: "203.0.113.7"},
                         "labels": {PUBLIC_IP_KEY: "203.0.113.8"}},
            "status": {"addresses": [
                {"type": "InternalIP", "address": "10.0.0.5"},
                {"type": "ExternalIP", "address": "198.51.100.9"}
            ]}
        });
        assert_eq!(pick(&node), "203.0.113.7".parse().ok());
        node["metadata"]["annotations"] = serde_json::json!({});
        assert_eq!(pick(&node), "203.0.113.8".parse().ok());
        node["metadata"]["labels"] = serde_json::json!({PUBLIC_IP_KEY: "not an address"});
        assert_eq!(pick(&node), "198.51.100.9".parse().ok());
        node["status"]["addresses"] =
            serde_json::json!([{"type": "InternalIP", "address": "10.0.0.5"}]);
        assert_eq!(pick(&node), None, "never the internal address");
    }
}
