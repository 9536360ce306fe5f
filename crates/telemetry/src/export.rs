//! The OTLP/gRPC span exporter and the resource every span carries.
//!
//! The standard `OTEL_*` variables work as the SDK reads them:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (`https://` for TLS), `OTEL_EXPORTER_OTLP_HEADERS`
//! (`authorization=Bearer …`, from a Secret in the chart), `OTEL_TRACES_SAMPLER`
//! and `OTEL_TRACES_SAMPLER_ARG`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`.
//! Added here, because the Rust exporter does not read them:
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` (the collector's CA, PEM) and
//! `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`/`_CLIENT_KEY` (mutual TLS); an
//! `https://` endpoint without a CA file is checked against the public web
//! roots. The pod's identity comes from the downward API through
//! `K8S_POD_NAME`, `K8S_NAMESPACE_NAME` and `K8S_NODE_NAME` (set by the chart),
//! so `OTEL_RESOURCE_ATTRIBUTES` stays free for the operator's own.

use crate::TelemetryError;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

pub const ENV_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
pub const ENV_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
pub const ENV_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";

/// Downward-API variables and the resource attributes they become.
const POD_ATTRIBUTES: [(&str, &str); 3] = [
    ("K8S_POD_NAME", "k8s.pod.name"),
    ("K8S_NAMESPACE_NAME", "k8s.namespace.name"),
    ("K8S_NODE_NAME", "k8s.node.name"),
];

pub fn provider(service: &'static str) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithTonicConfig as _;
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    if let Some(tls) = tls_config(&crate::EnvVars)? {
        builder = builder.with_tls_config(tls);
    }
    let exporter = builder
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(service, &crate::EnvVars))
        .build())
}

/// Where the exporter reads its settings (the process environment, or a
/// map in tests).
pub trait Vars {
    fn var(&self, name: &str) -> Option<String>;
}

/// service.name (unless `OTEL_SERVICE_NAME` names it), service.version, the
/// pod's k8s.* attributes, and whatever `OTEL_RESOURCE_ATTRIBUTES` adds.
pub fn resource(service: &'static str, vars: &dyn Vars) -> Resource {
    let mut r = Resource::builder();
    if vars.var(crate::ENV_SERVICE_NAME).is_none() {
        r = r.with_service_name(service);
    }
    r = r.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    for (var, key) in POD_ATTRIBUTES {
        if let Some(v) = vars.var(var).filter(|v| !v.is_empty()) {
            r = r.with_attribute(KeyValue::new(key, v));
        }
    }
    r.build()
}

/// TLS towards the collector: the CA (and client certificate) from files
/// when named, else the web roots for an `https://` endpoint.
fn tls_config(
    vars: &dyn Vars,
) -> Result<Option<tonic::transport::ClientTlsConfig>, TelemetryError> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let read = |name: &str| -> Result<Option<Vec<u8>>, TelemetryError> {
        match vars.var(name).filter(|p| !p.is_empty()) {
            None => Ok(None),
            Some(path) => std::fs::read(&path)
                .map(Some)
                .map_err(|e| TelemetryError::Exporter(format!("{name}={path}: {e}"))),
        }
    };
    let ca = read(ENV_CERTIFICATE)?;
    let cert = read(ENV_CLIENT_CERTIFICATE)?;
    let key = read(ENV_CLIENT_KEY)?;
    let https = vars
        .var(crate::ENV_OTLP_ENDPOINT)
        .is_some_and(|e| e.starts_with("https://"));
    if ca.is_none() && cert.is_none() && !https {
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new();
    tls = match ca {
        Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
        None => tls.with_webpki_roots(),
    };
    match (cert, key) {
        (Some(c), Some(k)) => tls = tls.identity(Identity::from_pem(c, k)),
        (None, None) => {}
        _ => {
            return Err(TelemetryError::Exporter(format!(
                "{ENV_CLIENT_CERTIFICATE} and {ENV_CLIENT_KEY} go together"
            )))
        }
    }
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, String>);
    impl Vars for Map {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn attr(r: &Resource, key: &'static str) -> Option<String> {
        r.get(&opentelemetry::Key::from_static_str(key))
            .map(|v| v.to_string())
    }

    #[test]
    fn the_pod_and_version_are_resource_attributes() {
        let vars = Map(HashMap::from([
            ("K8S_POD_NAME", "asterism-edge-7d9f".to_owned()),
            ("K8S_NAMESPACE_NAME", "voip".to_owned()),
            ("K8S_NODE_NAME", "".to_owned()),
        ]));
        let r = resource("asterism-edge", &vars);
        assert_eq!(
            attr(&r, "k8s.pod.name").as_deref(),
            Some("asterism-edge-7d9f")
        );
        assert_eq!(attr(&r, "k8s.namespace.name").as_deref(), Some("voip"));
        assert_eq!(attr(&r, "k8s.node.name"), None, "empty means unknown");
        assert_eq!(
            attr(&r, "service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn tls_is_off_for_plain_endpoints_and_half_a_client_identity_is_refused() {
        let plain = Map(HashMap::from([(
            crate::ENV_OTLP_ENDPOINT,
            "http://otel:4317".to_owned(),
        )]));
        assert!(tls_config(&plain).unwrap().is_none());
        let https = Map(HashMap::from([(
            crate::ENV_OTLP_ENDPOINT,
            "https://otel:4317".to_owned(),
        )]));
        assert!(tls_config(&https).unwrap().is_some());
        let missing = Map(HashMap::from([(
            ENV_CERTIFICATE,
            "/nonexistent/ca.pem".to_owned(),
        )]));
        let err = tls_config(&missing).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("asterism-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("c.pem");
        std::fs::write(&cert, "x").unwrap();
        let half = Map(HashMap::from([(
            ENV_CLIENT_CERTIFICATE,
            cert.display().to_string(),
        )]));
        assert!(tls_config(&half).is_err());
    }
}
