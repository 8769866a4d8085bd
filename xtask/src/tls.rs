//! A local certificate authority and one server certificate for `localhost`, `127.0.0.1` and
//! `::1` (`rcgen`), so the demo and the tests speak TLS both ways: the browser to the API
//! (https://localhost:…) and the API to the private PostgreSQL cluster (`verify-full`).
//!
//! Kept under `target/thrive/tls/` (never in git); the private keys are 0600. Made once and
//! reused, so a browser told to trust the CA keeps trusting it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

use crate::postgres::write_private;

/// The files of the local CA and the server certificate.
#[derive(Debug, Clone)]
pub struct LocalTls {
    /// The CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The server certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// The server's private key (PEM, 0600).
    pub key: PathBuf,
    /// base64(sha256(SubjectPublicKeyInfo)) of the server key: Chromium's
    /// `--ignore-certificate-errors-spki-list` trusts exactly this key, nothing else.
    pub spki_sha256: String,
}

/// Makes (once) or reuses the CA and server certificate under `dir`.
pub fn ensure(dir: &Path) -> Result<LocalTls> {
    let tls = LocalTls {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
        spki_sha256: String::new(),
    };
    let spki_path = dir.join("server.spki-sha256");
    let complete = [&tls.ca, &tls.cert, &tls.key, &spki_path]
        .iter()
        .all(|p| p.exists());
    if complete {
        let spki_sha256 = fs::read_to_string(&spki_path)?.trim().to_owned();
        return Ok(LocalTls { spki_sha256, ..tls });
    }
    fs::create_dir_all(dir)?;
    eprintln!(
        "making a local CA and a server certificate in {}",
        dir.display()
    );

    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Thrive local development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate().context("generating the server key")?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = params.signed_by(&server_key, &ca_cert, &ca_key)?;

    let spki_sha256 = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(server_key.public_key_der()));
    // The CA's key signs nothing after this run: it is not kept at all.
    write_private(&tls.key, server_key.serialize_pem().as_bytes())?;
    fs::write(&tls.cert, server_cert.pem())?;
    fs::write(&tls.ca, ca_cert.pem())?;
    fs::write(&spki_path, &spki_sha256)?;
    Ok(LocalTls { spki_sha256, ..tls })
}

impl LocalTls {
    /// The query string that makes a libpq or sqlx connection verify the server against the
    /// local CA, host name included.
    pub fn verify_full_params(&self) -> String {
        format!("sslmode=verify-full&sslrootcert={}", self.ca.display())
    }
}
