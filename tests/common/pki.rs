//! Certificates for TLS tests, made with the openssl command line: a test
//! CA and a server certificate it signed for 127.0.0.1.

/// A test CA and a server certificate it signed for 127.0.0.1, made with
/// openssl: (the CA's path, the server's certificate and key).
#[rustfmt::skip]
pub fn test_pki(dir: &std::path::Path) -> (String, Vec<u8>, Vec<u8>) {
    let p = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(ok.success(), "openssl {args:?}");
    };
    const EC: &str = "ec_paramgen_curve:prime256v1";
    let (ca_key, ca, key, csr) = (p("ca.key"), p("ca.pem"), p("otlp.key"), p("otlp.csr"));
    openssl(&["req", "-x509", "-newkey", "ec", "-pkeyopt", EC, "-nodes", "-days", "1",
        "-subj", "/CN=test-ca", "-keyout", &ca_key, "-out", &ca]);
    openssl(&["req", "-newkey", "ec", "-pkeyopt", EC, "-nodes",
        "-subj", "/CN=otlp", "-keyout", &key, "-out", &csr]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&["x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial",
        "-days", "1", "-extfile", &p("san.ext"), "-out", &p("otlp.pem")]);
    (
        p("ca.pem"),
        std::fs::read(dir.join("otlp.pem")).unwrap(),
        std::fs::read(dir.join("otlp.key")).unwrap(),
    )
}
