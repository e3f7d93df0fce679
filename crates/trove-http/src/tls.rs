//! Which certificate authorities Trove trusts on the connections it opens (remote sources, REST
//! embedders, PostgreSQL, SMTP, doctor's probes): the built-in Mozilla roots, **plus** the
//! certificates of a `ca_file` when one is configured. A `ca_file` never replaces the built-in
//! roots, so setting one for a private CA cannot break a public endpoint, and the same key
//! means the same thing in every section. Every consumer builds its trust here, and a bad file
//! is reported by the one message that names its configuration key.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The built-in roots and the certificates of `ca_file`, as DER certificates; `key` names the
/// setting (`storage.postgres.ca_file`) in the error.
pub fn trusted_certificates(ca_file: Option<&Path>, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs: Vec<CertificateDer<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec();
    if let Some(path) = ca_file {
        certs.extend(read_ca_file(path, key)?);
    }
    Ok(certs)
}

/// The certificates of a `ca_file`: at least one, each a well-formed CA certificate.
fn read_ca_file(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let fix = format!(
        "point {key} at a PEM file of CA certificates (trusted in addition to the built-in roots), or remove it"
    );
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {key} {} ({e}); {fix}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{key} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----); {fix}", path.display()));
    }
    for cert in &certs {
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("{key} {} holds a certificate that cannot be used ({e}); {fix}", path.display()))?;
    }
    Ok(certs)
}

/// The root store of [`trusted_certificates`].
pub fn root_store(ca_file: Option<&Path>, key: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(trusted_certificates(ca_file, key)?);
    Ok(roots)
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3, no client certificate) that trusts
/// [`root_store`].
pub fn client_config(ca_file: Option<&Path>, key: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed ({e}); this is a bug, please report it"))?
        .with_root_certificates(root_store(ca_file, key)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// [`trusted_certificates`] as one PEM bundle, for programs that take a CA file (git: a
/// `GIT_SSL_CAINFO` replaces the built-in roots, so it gets them too).
pub fn pem_bundle(ca_file: Option<&Path>, key: &str) -> Result<String, String> {
    use base64::Engine as _;
    let mut pem = String::new();
    for cert in trusted_certificates(ca_file, key)? {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in text.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    Ok(pem)
}

/// The ureq TLS settings that trust [`trusted_certificates`].
pub fn tls_config(ca_file: Option<&Path>, key: &str) -> Result<ureq::tls::TlsConfig, String> {
    let certs: Vec<ureq::tls::Certificate<'static>> = trusted_certificates(ca_file, key)?
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    Ok(ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
    }

    #[test]
    fn a_ca_file_is_trusted_in_addition_to_the_built_in_roots() {
        let builtin = root_store(None, "x.ca_file").unwrap();
        assert!(builtin.len() > 100, "the Mozilla roots: {}", builtin.len());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, format!("{}{}", ca("Private CA one").pem(), ca("Private CA two").pem())).unwrap();
        let with = root_store(Some(&file), "x.ca_file").unwrap();
        assert_eq!(with.len(), builtin.len() + 2, "both private CAs are added and no built-in root is dropped");
        assert_eq!(trusted_certificates(Some(&file), "x.ca_file").unwrap().len(), builtin.len() + 2);
        // The PEM bundle (for git) reads back as the same certificates.
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, pem_bundle(Some(&file), "x.ca_file").unwrap()).unwrap();
        let again = CertificateDer::pem_file_iter(&bundle).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(again, trusted_certificates(Some(&file), "x.ca_file").unwrap());
    }

    #[test]
    fn a_bad_ca_file_is_named_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = root_store(Some(&missing), "mail.smtp.ca_file").unwrap_err();
        assert!(e.contains("cannot read mail.smtp.ca_file") && e.contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(Some(&empty), "storage.postgres.ca_file").unwrap_err();
        assert!(e.contains("storage.postgres.ca_file") && e.contains("no PEM certificate"), "{e}");
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let e = tls_config(Some(&bad), "llm.tls.ca_file").map(|_| ()).unwrap_err();
        assert!(e.contains("llm.tls.ca_file") && e.contains("in addition to the built-in roots"), "{e}");
    }
}
