//! HTTPS: loads the server's certificate chain and key (and, for mutual TLS, the authorities
//! that client certificates must chain to) from PEM files into a rustls configuration, with
//! errors that name the file and what is wrong with it: unreadable, no PEM block of the
//! expected kind, not yet valid or expired (read from the certificate's validity field), or a
//! key that does not belong to the certificate. The handshake itself runs in
//! the connection module (`conn`), within the header time limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use trove_config::TlsConfig;

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{path}: cannot read it: {source}", path = path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file has no usable PEM block.
    #[error("{path}: {what}", path = path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        what: String,
    },
}

impl trove_types::HasCode for TlsError {
    fn code(&self) -> trove_types::Code {
        match self {
            TlsError::Unreadable { .. } => trove_types::Code::ConfigBadPath,
            TlsError::Invalid { .. } => trove_types::Code::ConfigInvalid,
        }
    }
}

fn invalid(path: &Path, what: impl Into<String>) -> TlsError {
    TlsError::Invalid { path: path.to_path_buf(), what: what.into() }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable { path: path.to_path_buf(), source })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(path, "has no `-----BEGIN CERTIFICATE-----` block; give the PEM certificate file"));
    }
    Ok(certs)
}

/// The TLS configuration of `config`, whose relative paths are under `root`.
pub fn load(config: &TlsConfig, root: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    load_at(config, root, time::OffsetDateTime::now_utc())
}

fn load_at(config: &TlsConfig, root: &Path, now: time::OffsetDateTime) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_path = root.join(&config.cert_file);
    let key_path = root.join(&config.key_file);
    let certs = certificates(&cert_path)?;
    check_validity(&cert_path, &certs[0], now)?;
    let key_pem = read(&key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(&key_path, format!("has no usable private key ({e}); give the PEM key (`-----BEGIN PRIVATE KEY-----`)"))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&cert_path, format!("no TLS version available: {e}")))?;
    let builder = match &config.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let ca_path = root.join(ca);
            let mut roots = RootCertStore::empty();
            for cert in certificates(&ca_path)? {
                roots.add(cert).map_err(|e| {
                    invalid(&ca_path, format!("holds a certificate that cannot be a trust anchor: {e}"))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(&ca_path, format!("cannot verify client certificates with it: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(certs, key).map_err(|e| {
        invalid(&key_path, format!("does not go with the certificate in {} ({e})", cert_path.display()))
    })?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

/// When the leaf certificate of `config` stops being valid (for warnings ahead of time).
pub fn expires(config: &TlsConfig, root: &Path) -> Result<time::OffsetDateTime, TlsError> {
    let path = root.join(&config.cert_file);
    let certs = certificates(&path)?;
    validity(&certs[0])
        .map(|(_, not_after)| not_after)
        .ok_or_else(|| invalid(&path, "holds a certificate that cannot be parsed"))
}

/// Refuses a leaf certificate outside its validity period.
fn check_validity(path: &Path, cert: &CertificateDer<'_>, now: time::OffsetDateTime) -> Result<(), TlsError> {
    let (not_before, not_after) =
        validity(cert).ok_or_else(|| invalid(path, "holds a certificate that cannot be parsed"))?;
    let show = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    if now > not_after {
        return Err(invalid(path, format!("the certificate expired at {}; renew it", show(not_after))));
    }
    if now < not_before {
        return Err(invalid(
            path,
            format!("the certificate is not valid before {}; check the clock", show(not_before)),
        ));
    }
    Ok(())
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `notBefore` and `notAfter` of an X.509 certificate.
pub fn validity(cert: &[u8]) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = der(rest)?;
    if tag == 0xa0 {
        rest = after; // explicit version
    }
    for _ in 0..3 {
        rest = der(rest)?.2; // serial number, signature algorithm, issuer
    }
    let (_, validity, _) = der(rest)?;
    let (t1, v1, rest) = der(validity)?;
    let (t2, v2, _) = der(rest)?;
    Some((der_time(t1, v1)?, der_time(t2, v2)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn der_time(tag: u8, v: &[u8]) -> Option<time::OffsetDateTime> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i32 = s.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let n = |i: usize| -> Option<u8> { rest.get(i..i + 2)?.parse().ok() };
    let month = time::Month::try_from(n(0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, n(2)?).ok()?;
    let t = time::Time::from_hms(n(4)?, n(6)?, n(8)?).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times_parse() {
        let t = der_time(0x17, b"491231235959Z").unwrap();
        assert_eq!((t.year(), t.hour()), (2049, 23));
        assert_eq!(der_time(0x17, b"500101000000Z").unwrap().year(), 1950);
        assert_eq!(der_time(0x18, b"21000101000000Z").unwrap().year(), 2100);
        assert!(der_time(0x17, b"garbage").is_none());
        assert!(validity(b"\x30\x03\x02\x01\x01").is_none());
    }
}
