//! A media pod on the node's network advertises the node's public address
//! (`ASTERISM_MEDIA_ADVERTISE=k8s-node`): it reads its Node from the
//! Kubernetes API with its service account — here a stand-in API server
//! over TLS with the cluster CA, answering as the real one does (chunked
//! JSON) — and writes that address in its SDP answers. A node without one
//! stops the pod at start, saying how to give it one.

mod common;

use asterism_proto::media::media_client::MediaClient;
use asterism_proto::media::OpenRequest;
use asterism_testkit::{free_port, Service};
use common::phone::pcmu_offer;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A stand-in API server: answers GET /api/v1/nodes/<name> with `node`
/// (chunked), 404 otherwise; records the Authorization headers it saw.
fn fake_api(cert: Vec<u8>, key: Vec<u8>, node: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(&key).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let mut conn = tokio_rustls::rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tcp = tcp;
            let mut tls = tokio_rustls::rustls::Stream::new(&mut conn, &mut tcp);
            let mut buf = [0u8; 4096];
            let Ok(n) = tls.read(&mut buf) else { continue };
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Some(auth) = head.lines().find_map(|l| l.strip_prefix("Authorization: ")) {
                record.lock().unwrap().push(auth.to_owned());
            }
            let path = head
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let answer = match path.strip_prefix("/api/v1/nodes/") {
                Some(_) => {
                    let (a, b) = node.split_at(node.len() / 2);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                }
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
            };
            let _ = tls.write_all(answer.as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, seen)
}

/// asterism-media pointed at the stand-in API as node `node-a`.
fn media_on_node(dir: &std::path::Path, api: u16, grpc: u16) -> Service {
    let first = asterism_testkit::rtp_base(20);
    Service::start(
        "asterism-media",
        &[
            ("ASTERISM_MEDIA_LISTEN", format!("127.0.0.1:{grpc}")),
            (
                "ASTERISM_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
            ("ASTERISM_RTP_BIND", "127.0.0.1".into()),
            ("ASTERISM_RTP_PORTS", format!("{first}-{}", first + 20)),
            ("ASTERISM_MEDIA_ADVERTISE", "k8s-node".into()),
            ("K8S_NODE_NAME", "node-a".into()),
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1".into()),
            ("KUBERNETES_SERVICE_PORT", api.to_string()),
            ("ASTERISM_K8S_SA_DIR", dir.display().to_string()),
        ],
    )
}

fn service_account(tag: &str) -> (common::TempDir, Vec<u8>, Vec<u8>) {
    let dir = common::TempDir::new(tag);
    let (ca, cert, key) = common::pki::test_pki(&dir.0);
    std::fs::copy(ca, dir.0.join("ca.crt")).unwrap();
    std::fs::write(dir.0.join("token"), "tok-123\n").unwrap();
    (dir, cert, key)
}

#[test]
fn a_host_network_media_pod_advertises_its_nodes_public_address() {
    let (dir, cert, key) = service_account("node-ip");
    let node = r#"{"kind":"Node","metadata":{"name":"node-a","labels":{}},"status":{"addresses":[{"type":"InternalIP","address":"10.1.2.3"},{"type":"ExternalIP","address":"203.0.113.7"}]}}"#;
    let (api, seen) = fake_api(cert, key, node);
    let grpc = free_port();
    let _media = media_on_node(&dir.0, api, grpc);
    common::wait_tcp(grpc);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answer = rt.block_on(async {
        let mut client = MediaClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .unwrap();
        let req = OpenRequest {
            call_id: "node-test".into(),
            sdp_offer: pcmu_offer(4000),
            reached_at: "127.0.0.1:5060".into(),
            ..Default::default()
        };
        client.open(req).await.unwrap().into_inner().sdp_answer
    });
    assert!(answer.contains("c=IN IP4 203.0.113.7"), "{answer}");
    assert_eq!(*seen.lock().unwrap(), ["Bearer tok-123"]);
}

#[test]
fn a_node_without_a_public_address_stops_the_pod_with_the_remedy() {
    let (dir, cert, key) = service_account("node-none");
    let node = r#"{"kind":"Node","metadata":{"name":"node-a"},"status":{"addresses":[{"type":"InternalIP","address":"10.1.2.3"}]}}"#;
    let (api, _) = fake_api(cert, key, node);
    let mut media = media_on_node(&dir.0, api, free_port());
    let exited = common::wait_until(Duration::from_secs(10), || media.try_exit().is_some());
    assert!(
        exited,
        "the pod does not start advertising an unreachable address"
    );
    let errors = media.errors();
    assert!(
        errors.contains("kubectl annotate node node-a asterism.io/public-ip="),
        "{errors}"
    );
}
