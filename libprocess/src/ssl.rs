//! libprocess's TLS, configured from upstream's `LIBPROCESS_SSL_*`
//! environment (and the deprecated `SSL_*` spellings, which the
//! `LIBPROCESS_SSL_*` ones override), on rustls.
//!
//! Owns reading and validating those variables, loading certificates, keys
//! and CAs, and building the server and client TLS configurations that
//! [`crate::Server`] and [`crate::Transport`] use. A setting rustls cannot
//! honour (SSLv3, TLS 1.0/1.1, OpenSSL cipher names without a rustls
//! equivalent, custom ECDH curves, a verification depth) is an error, so a
//! process refuses to start rather than run with weaker or different
//! protection than it was asked for. Never opens sockets itself.
//!
//! Semantics follow upstream's `openssl.cpp`:
//! - server side, `REQUIRE_CERT` demands a client certificate chained to the
//!   CA; without it no client certificate is asked for;
//! - client side, `VERIFY_CERT` (implied by `REQUIRE_CERT`) verifies the
//!   server's chain against the CA; without it any server certificate is
//!   accepted (the handshake signature is still checked);
//! - `SUPPORT_DOWNGRADE` lets the server accept plaintext on the TLS port,
//!   telling the two apart by the first byte (a TLS handshake record);
//! - every process presents its certificate, as server and as client.
//!
//! Whose certificate it is (`HOSTNAME_VALIDATION_SCHEME`), as upstream:
//! - `legacy` (the default): the handshake checks the chain only; then the
//!   peer's IP is looked up in reverse DNS and the certificate must name that
//!   host (a DNS subject alternative name, else the common name), or with
//!   `VERIFY_IPADD` the IP itself. This applies to servers we connect to
//!   with `VERIFY_CERT` and to clients with `REQUIRE_CERT`. When the lookup
//!   finds no name and `VERIFY_IPADD` is off, only `REQUIRE_CERT` refuses
//!   the peer;
//! - `openssl`: a client checks the name it connected to during the
//!   handshake; peers addressed by IP (every UPID) need `VERIFY_IPADD`,
//!   without which no connection is made. A server checks client
//!   certificates' chain only.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite, SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The variable that turns libprocess TLS on.
pub const SSL_ENABLED: &str = "LIBPROCESS_SSL_ENABLED";

const PREFIX: &str = "LIBPROCESS_SSL_";
const LEGACY_PREFIX: &str = "SSL_";

/// Every setting upstream reads, by the name after the prefix. Aliases are
/// the newer upstream spellings of the same setting.
const KNOWN: &[&str] = &[
    "ENABLED",
    "SUPPORT_DOWNGRADE",
    "ENABLE_DOWNGRADE",
    "CERT_FILE",
    "KEY_FILE",
    "VERIFY_CERT",
    "VERIFY_SERVER_CERT",
    "REQUIRE_CERT",
    "REQUIRE_CLIENT_CERT",
    "VERIFY_IPADD",
    "VERIFICATION_DEPTH",
    "CA_DIR",
    "CA_FILE",
    "CIPHERS",
    "ECDH_CURVES",
    "HOSTNAME_VALIDATION_SCHEME",
    "ENABLE_SSL_V3",
    "ENABLE_TLS_V1_0",
    "ENABLE_TLS_V1_1",
    "ENABLE_TLS_V1_2",
    "ENABLE_TLS_V1_3",
];

/// Where the CA bundle is looked for when verification is on and neither
/// `CA_FILE` nor `CA_DIR` is given (OpenSSL's default on Debian).
const DEFAULT_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The decoded `LIBPROCESS_SSL_*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub enabled: bool,
    pub support_downgrade: bool,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub verify_cert: bool,
    pub require_cert: bool,
    pub verify_ipadd: bool,
    pub ca_dir: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub ciphers: Option<String>,
    pub enable_tls_v1_2: bool,
    pub enable_tls_v1_3: bool,
    pub hostname_validation: HostnameValidation,
}

/// `HOSTNAME_VALIDATION_SCHEME`: how a peer's identity is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostnameValidation {
    /// After the handshake, against the peer IP's reverse-DNS name.
    #[default]
    Legacy,
    /// During the handshake, against the name the client connected to.
    Openssl,
}

/// Reads the settings from `vars` (the process environment in binaries).
/// Only syntax is checked here; [`Tls::new`] checks what they ask for.
pub fn settings(vars: impl IntoIterator<Item = (String, String)>) -> Result<Settings, String> {
    let mut legacy = BTreeMap::new();
    let mut current = BTreeMap::new();
    for (name, value) in vars {
        if let Some(key) = name.strip_prefix(PREFIX) {
            if !KNOWN.contains(&key) {
                return Err(format!(
                    "Failed to load flags from environment variables prefixed by \
                     {PREFIX}: unknown variable '{name}'"
                ));
            }
            current.insert(key.to_string(), (name.clone(), value));
        } else if let Some(key) = name.strip_prefix(LEGACY_PREFIX) {
            // OpenSSL's own `SSL_CERT_DIR` and the like share this prefix;
            // only upstream's names are ours.
            if KNOWN.contains(&key) {
                legacy.insert(key.to_string(), (name.clone(), value));
            }
        }
    }
    legacy.extend(current);
    let vars = legacy;

    let boolean = |key: &str, default: bool| -> Result<bool, String> {
        match vars.get(key) {
            None => Ok(default),
            Some((name, value)) => match value.trim() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!(
                    "Failed to load {name}: expecting a boolean (true or false), got '{value}'"
                )),
            },
        }
    };
    let either =
        |a: &str, b: &str| -> Result<bool, String> { Ok(boolean(a, false)? || boolean(b, false)?) };
    let path = |key: &str| vars.get(key).map(|(_, v)| PathBuf::from(v));

    let settings = Settings {
        enabled: boolean("ENABLED", false)?,
        support_downgrade: either("SUPPORT_DOWNGRADE", "ENABLE_DOWNGRADE")?,
        cert_file: path("CERT_FILE"),
        key_file: path("KEY_FILE"),
        verify_cert: either("VERIFY_CERT", "VERIFY_SERVER_CERT")?,
        require_cert: either("REQUIRE_CERT", "REQUIRE_CLIENT_CERT")?,
        verify_ipadd: boolean("VERIFY_IPADD", false)?,
        ca_dir: path("CA_DIR"),
        ca_file: path("CA_FILE"),
        ciphers: vars.get("CIPHERS").map(|(_, v)| v.clone()),
        enable_tls_v1_2: boolean("ENABLE_TLS_V1_2", true)?,
        enable_tls_v1_3: boolean("ENABLE_TLS_V1_3", false)?,
        hostname_validation: match vars.get("HOSTNAME_VALIDATION_SCHEME") {
            None => HostnameValidation::Legacy,
            Some((_, value)) if value == "legacy" => HostnameValidation::Legacy,
            Some((_, value)) if value == "openssl" => HostnameValidation::Openssl,
            Some((name, value)) => {
                return Err(format!(
                    "Unknown value for hostname_validation_scheme ({name}): {value}"
                ))
            }
        },
    };

    // Settings rustls cannot honour: refused by name instead of ignored.
    for (key, why) in [
        (
            "ENABLE_SSL_V3",
            "SSLv3 is not supported (rustls speaks TLS 1.2 and 1.3)",
        ),
        (
            "ENABLE_TLS_V1_0",
            "TLS 1.0 is not supported (rustls speaks TLS 1.2 and 1.3)",
        ),
        (
            "ENABLE_TLS_V1_1",
            "TLS 1.1 is not supported (rustls speaks TLS 1.2 and 1.3)",
        ),
    ] {
        if boolean(key, false)? {
            return Err(format!("{PREFIX}{key}=true is refused: {why}"));
        }
    }
    if let Some((name, value)) = vars.get("VERIFICATION_DEPTH") {
        if value.trim() != "4" {
            return Err(format!(
                "{name}={value} is refused: the certificate chain depth cannot be \
                 configured in this build (only the default, 4, is accepted)"
            ));
        }
    }
    if let Some((name, value)) = vars.get("ECDH_CURVES") {
        if value.trim() != "auto" {
            return Err(format!(
                "{name}={value} is refused: only 'auto' (X25519, P-256, P-384) is supported"
            ));
        }
    }
    Ok(settings)
}

/// The TLS configuration of a process: what its server accepts and how its
/// outgoing connections handshake.
pub struct Tls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    support_downgrade: bool,
    /// Who is checked after the handshake under the `legacy` scheme.
    identity: Identity,
}

/// The post-handshake identity checks a process makes (none under the
/// `openssl` scheme, which checks during the handshake or not at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    /// Servers we connect to (`VERIFY_CERT` under `legacy`).
    servers: bool,
    /// Clients that connect to us (`REQUIRE_CERT` under `legacy`).
    clients: bool,
    verify_ipadd: bool,
    /// `REQUIRE_CERT`: a peer whose name is unknown is refused.
    require_cert: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("support_downgrade", &self.support_downgrade)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Builds the configuration `settings` ask for, or says why it cannot.
    /// `None` when TLS is not enabled.
    pub fn new(settings: &Settings) -> Result<Option<Tls>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let Some(key_file) = &settings.key_file else {
            return Err(
                "SSL requires key! NOTE: Set path with LIBPROCESS_SSL_KEY_FILE".to_string(),
            );
        };
        let Some(cert_file) = &settings.cert_file else {
            return Err(
                "SSL requires certificate! NOTE: Set path with LIBPROCESS_SSL_CERT_FILE"
                    .to_string(),
            );
        };
        // What rustls cannot do is refused before any file is read.
        let provider = Arc::new(provider(settings.ciphers.as_deref())?);
        let versions = versions(settings)?;
        let chain = load_certificates(cert_file)
            .map_err(|e| format!("Could not load cert file '{}': {e}", cert_file.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "Could not load cert file '{}': no certificate in it",
                cert_file.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key_file)
            .map_err(|e| format!("Could not load key file '{}': {e}", key_file.display()))?;

        // `REQUIRE_CERT` implies `VERIFY_CERT`, as upstream.
        let verify_server = settings.verify_cert || settings.require_cert;
        let (roots, trusted) = if verify_server || settings.require_cert {
            let (roots, trusted) = load_roots(settings)?;
            (Some(Arc::new(roots)), Arc::new(trusted))
        } else {
            (None, Arc::new(Vec::new()))
        };

        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("Failed to configure TLS: {e}"))?;
        let server = match (&roots, settings.require_cert) {
            (Some(roots), true) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .build()
                        .map_err(|e| format!("Failed to configure client verification: {e}"))?;
                server.with_client_cert_verifier(Arc::new(TrustedClient {
                    inner: verifier,
                    trusted: trusted.clone(),
                }))
            }
            _ => server.with_no_client_auth(),
        };
        let mut server = server
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("Private key does not match the certificate public key: {e}"))?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];

        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("Failed to configure TLS: {e}"))?;
        let legacy = settings.hostname_validation == HostnameValidation::Legacy;
        let client = match (&roots, verify_server) {
            (Some(roots), true) => {
                let inner =
                    WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .build()
                        .map_err(|e| format!("Failed to configure server verification: {e}"))?;
                client
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(TrustedServer {
                        inner,
                        trusted,
                        roots: roots.clone(),
                        provider: provider.clone(),
                        names: if legacy {
                            ServerNames::AfterHandshake
                        } else if settings.verify_ipadd {
                            ServerNames::Connected
                        } else {
                            ServerNames::ConnectedDnsOnly
                        },
                    }))
            }
            _ => client
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider))),
        };
        let client = client
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("Failed to use the certificate as a client: {e}"))?;

        if settings.support_downgrade {
            tracing::warn!("Failed SSL connections will be downgraded to a non-SSL socket");
            if verify_server {
                tracing::warn!(
                    "TLS certificate verification was enabled by setting one of \
                     LIBPROCESS_SSL_VERIFY_CERT or LIBPROCESS_SSL_REQUIRE_CERT, but can be \
                     bypassed because TLS downgrades are enabled"
                );
            }
        }
        Ok(Some(Tls {
            server: Arc::new(server),
            client: Arc::new(client),
            support_downgrade: settings.support_downgrade,
            identity: Identity {
                servers: legacy && verify_server,
                clients: legacy && settings.require_cert,
                verify_ipadd: settings.verify_ipadd,
                require_cert: settings.require_cert,
            },
        }))
    }

    /// Whether plaintext connections are accepted on the TLS port.
    pub fn support_downgrade(&self) -> bool {
        self.support_downgrade
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server.clone())
    }

    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    /// Handshakes as a client on `stream` to `host` (an IP address or a
    /// DNS name), then checks whose certificate the server presented.
    pub async fn connect(
        &self,
        host: &str,
        stream: tokio::net::TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host}: {e}"))
        })?;
        let peer = stream.peer_addr()?.ip();
        let stream = self.connector().connect(name.clone(), stream).await?;
        let given = match &name {
            ServerName::DnsName(dns) => Some(dns.as_ref().to_string()),
            _ => None,
        };
        self.verify_server(stream.get_ref().1, peer, given)
            .await
            .map_err(std::io::Error::other)?;
        Ok(stream)
    }

    pub(crate) fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.client.clone())
    }

    /// The `legacy` scheme's check of a handshaken server at `peer` (the
    /// chain was checked in the handshake); `given` is the DNS name it was
    /// reached by, used when reverse DNS knows no name.
    pub(crate) async fn verify_server(
        &self,
        connection: &rustls::ClientConnection,
        peer: IpAddr,
        given: Option<String>,
    ) -> Result<(), String> {
        if !self.identity.servers {
            return Ok(());
        }
        let hostname = reverse_dns(peer).await.or(given);
        self.identity
            .check(connection.peer_certificates(), peer, hostname.as_deref())
    }

    /// [`Tls::verify_server`] for the blocking client path.
    pub(crate) fn verify_server_blocking(
        &self,
        connection: &rustls::ClientConnection,
        peer: IpAddr,
    ) -> Result<(), String> {
        if !self.identity.servers {
            return Ok(());
        }
        let hostname = reverse_dns_blocking(peer);
        self.identity
            .check(connection.peer_certificates(), peer, hostname.as_deref())
    }

    /// The `legacy` scheme's check of a handshaken client at `peer` when
    /// `REQUIRE_CERT` is set (the chain was checked in the handshake).
    pub(crate) async fn verify_client(
        &self,
        connection: &rustls::ServerConnection,
        peer: IpAddr,
    ) -> Result<(), String> {
        if !self.identity.clients {
            return Ok(());
        }
        let hostname = reverse_dns(peer).await;
        self.identity
            .check(connection.peer_certificates(), peer, hostname.as_deref())
    }
}

/// The peer's name in reverse DNS, off the async threads (a slow resolver
/// must not stall the loop, which is what it did upstream).
async fn reverse_dns(peer: IpAddr) -> Option<String> {
    tokio::task::spawn_blocking(move || reverse_dns_blocking(peer))
        .await
        .ok()
        .flatten()
}

fn reverse_dns_blocking(peer: IpAddr) -> Option<String> {
    match dns_lookup::lookup_addr(&peer) {
        // A resolver that answers with the address itself knows no name.
        Ok(name) if name.parse::<IpAddr>().is_err() => Some(name),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("Reverse DNS lookup for '{peer}' failed: {e}");
            None
        }
    }
}

impl Identity {
    /// Whether the end-entity certificate in `chain` names `hostname` (a DNS
    /// subject alternative name, else the common name) or, with
    /// `VERIFY_IPADD`, `peer`; `Err` is upstream's refusal.
    fn check(
        &self,
        chain: Option<&[CertificateDer<'static>]>,
        peer: IpAddr,
        hostname: Option<&str>,
    ) -> Result<(), String> {
        let Some(der) = chain.and_then(|c| c.first()) else {
            return Err("Peer did not provide certificate".to_string());
        };
        if !self.verify_ipadd && hostname.is_none() {
            return if self.require_cert {
                Err("Cannot verify peer certificate: peer hostname unknown".to_string())
            } else {
                Ok(())
            };
        }
        let cert = webpki::EndEntityCert::try_from(der)
            .map_err(|e| format!("Could not parse peer certificate: {e}"))?;
        if let Some(name) = hostname.and_then(|h| ServerName::try_from(h).ok()) {
            if matches!(name, ServerName::DnsName(_))
                && cert.verify_is_valid_for_subject_name(&name).is_ok()
            {
                return Ok(());
            }
        }
        if self.verify_ipadd
            && cert
                .verify_is_valid_for_subject_name(&ServerName::IpAddress(peer.into()))
                .is_ok()
        {
            return Ok(());
        }
        if let Some(hostname) = hostname {
            if let Some(common_name) = common_name(cert.subject()) {
                return if common_name == hostname {
                    Ok(())
                } else {
                    Err(format!(
                        "Presented Certificate Name: {common_name} does not match peer \
                         hostname name: {hostname}"
                    ))
                };
            }
        }
        let mut details = Vec::new();
        if let Some(hostname) = hostname {
            details.push(format!("hostname {hostname}"));
        }
        details.push(format!("IP {peer}"));
        Err(format!(
            "Could not verify presented certificate with {}",
            details.join(", ")
        ))
    }
}

/// The first common name (OID 2.5.4.3) in a certificate subject, given as
/// the DER contents of its `Name` sequence; `None` when there is none or
/// the encoding is not what it should be.
fn common_name(subject: &[u8]) -> Option<String> {
    const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    let mut rdns = subject;
    while !rdns.is_empty() {
        let (tag, set, rest) = der_element(rdns)?;
        rdns = rest;
        if tag != 0x31 {
            return None;
        }
        let mut attributes = set;
        while !attributes.is_empty() {
            let (tag, attribute, rest) = der_element(attributes)?;
            attributes = rest;
            if tag != 0x30 {
                return None;
            }
            let (tag, oid, value) = der_element(attribute)?;
            if tag != 0x06 || oid != COMMON_NAME {
                continue;
            }
            let (tag, text, _) = der_element(value)?;
            // UTF8String, PrintableString, IA5String, TeletexString (read
            // as Latin-1 text only when it is ASCII).
            return match tag {
                0x0c | 0x13 | 0x16 | 0x14 => std::str::from_utf8(text).ok().map(str::to_string),
                _ => None,
            };
        }
    }
    None
}

/// One DER element of `input`: its tag, its contents and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (bytes, rest) = rest.split_at(octets);
        (
            bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)),
            rest,
        )
    };
    if rest.len() < length {
        return None;
    }
    let (contents, after) = rest.split_at(length);
    Some((tag, contents, after))
}

/// Whether the first byte a client sent opens a TLS handshake record.
pub(crate) fn is_tls_handshake(first: u8) -> bool {
    first == 0x16
}

fn versions(settings: &Settings) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut versions = Vec::new();
    if settings.enable_tls_v1_3 {
        versions.push(&rustls::version::TLS13);
    }
    if settings.enable_tls_v1_2 {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(
            "No TLS protocol version is enabled (LIBPROCESS_SSL_ENABLE_TLS_V1_2 and \
             LIBPROCESS_SSL_ENABLE_TLS_V1_3 are both false)"
                .to_string(),
        );
    }
    Ok(versions)
}

/// The OpenSSL cipher names that have a rustls equivalent.
fn cipher_by_openssl_name(name: &str) -> Option<SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "ECDHE-ECDSA-AES128-GCM-SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES128-GCM-SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-ECDSA-AES256-GCM-SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES256-GCM-SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-ECDSA-CHACHA20-POLY1305" => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-RSA-CHACHA20-POLY1305" => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        _ => return None,
    })
}

/// ring's provider, limited to the TLS 1.2 suites `ciphers` (an OpenSSL
/// colon-separated list) names; unset keeps rustls's defaults. TLS 1.3
/// suites are not governed by the cipher list, as in OpenSSL.
fn provider(ciphers: Option<&str>) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(list) = ciphers {
        let mut chosen: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .collect();
        for name in list.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
            match cipher_by_openssl_name(name) {
                Some(suite) => chosen.push(suite),
                None => {
                    return Err(format!(
                        "Could not set ciphers '{list}' (LIBPROCESS_SSL_CIPHERS): '{name}' has \
                         no equivalent in this build; supported: ECDHE-ECDSA-AES128-GCM-SHA256, \
                         ECDHE-RSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES256-GCM-SHA384, \
                         ECDHE-RSA-AES256-GCM-SHA384, ECDHE-ECDSA-CHACHA20-POLY1305, \
                         ECDHE-RSA-CHACHA20-POLY1305"
                    ))
                }
            }
        }
        provider.cipher_suites = chosen;
    }
    Ok(provider)
}

fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The CAs verification trusts: `CA_FILE`, every certificate file in
/// `CA_DIR`, or the system bundle when neither is set.
fn load_roots(
    settings: &Settings,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), String> {
    let mut roots = RootCertStore::empty();
    let mut trusted = Vec::new();
    let mut add = |path: &Path, strict: bool| -> Result<(), String> {
        match load_certificates(path) {
            Ok(certs) => {
                for cert in certs {
                    trusted.push(cert.clone());
                    roots.add(cert).map_err(|e| {
                        format!(
                            "Could not load CA certificate from '{}': {e}",
                            path.display()
                        )
                    })?;
                }
                Ok(())
            }
            Err(e) if strict => Err(format!(
                "Could not load CA file and/or directory: {e} -> FILE: {}",
                path.display()
            )),
            // A CA directory may hold other files; those are skipped.
            Err(_) => Ok(()),
        }
    };
    if let Some(file) = &settings.ca_file {
        add(file, true)?;
    }
    if let Some(dir) = &settings.ca_dir {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            format!(
                "Could not load CA file and/or directory: {e} -> DIR: {}",
                dir.display()
            )
        })?;
        for entry in entries.flatten() {
            if entry
                .file_type()
                .map(|t| t.is_file() || t.is_symlink())
                .unwrap_or(false)
            {
                add(&entry.path(), false)?;
            }
        }
    }
    if settings.ca_file.is_none() && settings.ca_dir.is_none() {
        add(Path::new(DEFAULT_CA_FILE), true)?;
    }
    if roots.is_empty() {
        return Err(
            "Could not load CA file and/or directory: no CA certificate found (set \
             LIBPROCESS_SSL_CA_FILE or LIBPROCESS_SSL_CA_DIR)"
                .to_string(),
        );
    }
    Ok((roots, trusted))
}

/// Whether `end_entity` is itself one of the trusted certificates (a
/// self-signed certificate put in the CA file), which OpenSSL accepts and
/// webpki refuses as a CA used as an end entity.
fn is_trusted_itself(
    trusted: &[CertificateDer<'static>],
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> bool {
    intermediates.is_empty() && trusted.iter().any(|t| t.as_ref() == end_entity.as_ref())
}

/// Which name the handshake holds a server's certificate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerNames {
    /// None: the chain only, the name is checked after the handshake
    /// (`legacy`).
    AfterHandshake,
    /// The name connected to, an IP address too (`openssl` with
    /// `VERIFY_IPADD`).
    Connected,
    /// The DNS name connected to; an IP address is refused (`openssl`
    /// without `VERIFY_IPADD`).
    ConnectedDnsOnly,
}

/// Server verification as webpki does it, plus OpenSSL's acceptance of a
/// trusted self-signed certificate (whose name must still match).
#[derive(Debug)]
struct TrustedServer {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    trusted: Arc<Vec<CertificateDer<'static>>>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    names: ServerNames,
}

impl ServerCertVerifier for TrustedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match (self.names, server_name) {
            (ServerNames::AfterHandshake, _) => {
                if is_trusted_itself(&self.trusted, end_entity, intermediates) {
                    return Ok(ServerCertVerified::assertion());
                }
                let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|e| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                        rustls::OtherError(Arc::new(e)),
                    ))
                })?;
                cert.verify_for_usage(
                    self.provider.signature_verification_algorithms.all,
                    &self.roots.roots,
                    intermediates,
                    now,
                    webpki::KeyUsage::server_auth(),
                    None,
                    None,
                )
                .map_err(|e| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                        rustls::OtherError(Arc::new(e)),
                    ))
                })?;
                return Ok(ServerCertVerified::assertion());
            }
            (ServerNames::ConnectedDnsOnly, ServerName::IpAddress(_)) => {
                return Err(rustls::Error::General(
                    "No DNS name given and IP address verification is disabled \
                     (LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME=openssl needs \
                     LIBPROCESS_SSL_VERIFY_IPADD for peers addressed by IP)"
                        .to_string(),
                ));
            }
            _ => {}
        }
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(e) if is_trusted_itself(&self.trusted, end_entity, intermediates) => {
                let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| e.clone())?;
                cert.verify_is_valid_for_subject_name(server_name)
                    .map_err(|_| e)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Client verification as webpki does it (mandatory), plus OpenSSL's
/// acceptance of a trusted self-signed certificate.
#[derive(Debug)]
struct TrustedClient {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    trusted: Arc<Vec<CertificateDer<'static>>>,
}

impl rustls::server::danger::ClientCertVerifier for TrustedClient {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(verified) => Ok(verified),
            Err(_) if is_trusted_itself(&self.trusted, end_entity, intermediates) => {
                Ok(rustls::server::danger::ClientCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Client side without `VERIFY_CERT`: any server certificate is accepted,
/// as upstream does, but the handshake signature must still be valid.
#[derive(Debug)]
struct AnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// This process's TLS, read from its environment once (as upstream's
/// libprocess does at initialization). `Ok(None)`: TLS is off.
pub fn process_tls() -> Result<Option<Arc<Tls>>, String> {
    static TLS: OnceLock<Result<Option<Arc<Tls>>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let settings = settings(std::env::vars())?;
        Ok(Tls::new(&settings)?.map(Arc::new))
    })
    .clone()
}

/// Checks this process's TLS environment at start-up: `Err` names what is
/// wrong, and the process must refuse to start.
pub fn check_process_environment() -> Result<(), String> {
    process_tls().map(|_| ())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn booleans_follow_stout() {
        for value in ["true", "1", " true"] {
            assert!(settings(vars(&[(SSL_ENABLED, value)])).unwrap().enabled);
        }
        for value in ["false", "0"] {
            assert!(!settings(vars(&[(SSL_ENABLED, value)])).unwrap().enabled);
        }
        let error = settings(vars(&[(SSL_ENABLED, "maybe")])).unwrap_err();
        assert!(
            error.contains(SSL_ENABLED) && error.contains("boolean"),
            "{error}"
        );
    }

    #[test]
    fn libprocess_prefix_overrides_the_deprecated_one() {
        let s = settings(vars(&[
            ("SSL_CERT_FILE", "/old"),
            ("LIBPROCESS_SSL_CERT_FILE", "/new"),
            ("SSL_KEY_FILE", "/key"),
            // OpenSSL's own variable: not ours, ignored.
            ("SSL_CERT_DIR", "/etc/ssl/certs"),
        ]))
        .unwrap();
        assert_eq!(s.cert_file, Some(PathBuf::from("/new")));
        assert_eq!(s.key_file, Some(PathBuf::from("/key")));
    }

    #[test]
    fn aliases_and_defaults() {
        let s = settings(vars(&[
            ("LIBPROCESS_SSL_ENABLE_DOWNGRADE", "true"),
            ("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT", "1"),
            ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "true"),
        ]))
        .unwrap();
        assert!(s.support_downgrade && s.require_cert && s.verify_cert);
        let d = settings(vars(&[])).unwrap();
        assert!(!d.enabled && d.enable_tls_v1_2 && !d.enable_tls_v1_3 && !d.support_downgrade);
    }

    #[test]
    fn settings_rustls_cannot_honour_are_refused_by_name() {
        for (name, value) in [
            ("LIBPROCESS_SSL_ENABLE_SSL_V3", "true"),
            ("LIBPROCESS_SSL_ENABLE_TLS_V1_0", "true"),
            ("LIBPROCESS_SSL_ENABLE_TLS_V1_1", "1"),
            ("LIBPROCESS_SSL_VERIFICATION_DEPTH", "9"),
            ("LIBPROCESS_SSL_ECDH_CURVES", "P-521"),
            ("LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME", "dns"),
            ("LIBPROCESS_SSL_NO_SUCH_THING", "1"),
        ] {
            let error = settings(vars(&[(name, value)])).unwrap_err();
            let key = name.trim_start_matches(PREFIX).to_lowercase();
            assert!(
                error.contains(name) || error.to_lowercase().contains(&key),
                "{name}: {error}"
            );
        }
        assert!(settings(vars(&[("LIBPROCESS_SSL_ECDH_CURVES", "auto")])).is_ok());
    }

    #[test]
    fn cipher_lists_map_or_refuse() {
        assert!(provider(Some(
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
        ))
        .is_ok());
        let error = provider(Some("AES128-SHA:RC4-SHA")).unwrap_err();
        assert!(
            error.contains("AES128-SHA") && error.contains("CIPHERS"),
            "{error}"
        );
    }

    #[test]
    fn enabled_without_key_or_certificate_is_refused() {
        let s = settings(vars(&[(SSL_ENABLED, "true")])).unwrap();
        assert!(Tls::new(&s)
            .unwrap_err()
            .contains("LIBPROCESS_SSL_KEY_FILE"));
        let s = settings(vars(&[
            (SSL_ENABLED, "true"),
            ("LIBPROCESS_SSL_KEY_FILE", "/k"),
        ]))
        .unwrap();
        assert!(Tls::new(&s)
            .unwrap_err()
            .contains("LIBPROCESS_SSL_CERT_FILE"));
        let off = settings(vars(&[])).unwrap();
        assert!(Tls::new(&off).unwrap().is_none());
    }
}
