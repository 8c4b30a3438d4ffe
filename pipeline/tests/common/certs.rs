//! Throwaway certificates for TLS tests, made with the `openssl` crate the CQL TLS code already
//! links (no certificate-generation crate or CLI needed). Also included by unit tests (`#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};

/// A certificate authority that signs leaf certificates.
pub struct Ca {
    pub cert: X509,
    key: PKey<Private>,
}

/// A leaf certificate and its key, PEM (the key as unencrypted PKCS#8).
pub struct Leaf {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("pkey")
}

fn builder(cn: &str, key: &PKey<Private>) -> openssl::x509::X509Builder {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("x509");
    b.set_version(2).expect("v3");
    let mut serial = BigNum::new().expect("bn");
    serial
        .rand(64, MsbOption::MAYBE_ZERO, false)
        .expect("serial");
    b.set_serial_number(&serial.to_asn1_integer().expect("asn1"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_pubkey(key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("not before");
    b.set_not_after(&Asn1Time::days_from_now(2).expect("later"))
        .expect("not after");
    b
}

impl Ca {
    /// A new self-signed CA named `cn`.
    pub fn new(cn: &str) -> Ca {
        let key = key();
        let mut b = builder(cn, &key);
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("cn");
        b.set_issuer_name(&name.build()).expect("issuer");
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("bc");
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .expect("ku"),
        )
        .expect("ku");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        Ca {
            cert: b.build(),
            key,
        }
    }

    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().expect("pem")
    }

    /// A server (and client) certificate for `dns` names and `ips`, signed by this CA.
    pub fn issue(&self, cn: &str, dns: &[&str], ips: &[&str]) -> Leaf {
        let key = key();
        let mut b = builder(cn, &key);
        b.set_issuer_name(self.cert.subject_name()).expect("issuer");
        let mut san = SubjectAlternativeName::new();
        for d in dns {
            san.dns(d);
        }
        for ip in ips {
            san.ip(ip);
        }
        let san = san
            .build(&b.x509v3_context(Some(&self.cert), None))
            .expect("san");
        b.append_extension(san).expect("san");
        b.sign(&self.key, MessageDigest::sha256()).expect("sign");
        Leaf {
            cert_pem: b.build().to_pem().expect("pem"),
            key_pem: key.private_key_to_pem_pkcs8().expect("pkcs8"),
        }
    }
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test certificate");
    path
}
