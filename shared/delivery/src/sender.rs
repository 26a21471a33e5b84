//! The sender: one POST to a subscriber's URL behind the destination guard (SPEC §6).
//!
//! The host is resolved once; every address the guard refuses is dropped; the connection
//! goes to a vetted address and nowhere else (no second lookup, so DNS rebinding cannot slip
//! a private address in). Redirects are never followed, no proxy from the environment is
//! used, the connect step has 5 s and the whole attempt 15 s, at most 1 KiB of the response
//! is read, and every ending is one of the SPEC §5 reasons.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use hookpost_domain::delivery::{parse_retry_after, Outcome, RESPONSE_EXCERPT_BYTES};
use hookpost_domain::DestinationPolicy;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);

/// Turns a host name into addresses. Injected so tests can answer with any address without
/// a DNS server.
#[async_trait]
pub trait Resolver: Send + Sync {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect())
    }
}

/// Opens the TCP connection to a vetted address. Injected so tests can record what would
/// have been dialled without sending a packet.
#[async_trait]
pub trait Dialer: Send + Sync {
    async fn dial(&self, addr: SocketAddr) -> io::Result<TcpStream>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct TcpDialer;

#[async_trait]
impl Dialer for TcpDialer {
    async fn dial(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// What to send: the URL, the headers in order, the body.
#[derive(Clone, Debug)]
pub struct OutgoingRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// How an attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReport {
    pub outcome: Outcome,
    pub duration_ms: u64,
    /// The first 1 KiB of the response body, when there was a response.
    pub response_excerpt: Option<String>,
    /// A `Retry-After` in seconds, when the receiver sent one.
    pub retry_after: Option<u64>,
}

pub struct Sender {
    policy: DestinationPolicy,
    resolver: Arc<dyn Resolver>,
    dialer: Arc<dyn Dialer>,
    tls: TlsConnector,
    connect_timeout: Duration,
    total_timeout: Duration,
}

/// A TLS client trusting the system's roots, HTTP/1.1 only, on the same crypto provider the
/// AWS SDK uses.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err("no trusted root certificates found on this system".to_owned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl Sender {
    /// The production sender: the system resolver, real TCP, the system's roots.
    pub fn new(policy: DestinationPolicy) -> Result<Self, String> {
        Ok(Self::with_parts(policy, Arc::new(SystemResolver), Arc::new(TcpDialer), tls_config()?))
    }

    pub fn with_parts(
        policy: DestinationPolicy,
        resolver: Arc<dyn Resolver>,
        dialer: Arc<dyn Dialer>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self {
            policy,
            resolver,
            dialer,
            tls: TlsConnector::from(tls),
            connect_timeout: CONNECT_TIMEOUT,
            total_timeout: TOTAL_TIMEOUT,
        }
    }

    pub fn with_timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.total_timeout = total;
        self
    }

    pub fn policy(&self) -> &DestinationPolicy {
        &self.policy
    }

    pub async fn send(&self, request: &OutgoingRequest) -> SendReport {
        let started = Instant::now();
        let result = tokio::time::timeout(self.total_timeout, self.attempt(request)).await;
        let (outcome, response_excerpt, retry_after) = match result {
            Ok(Ok(answer)) => answer,
            Ok(Err(outcome)) => (outcome, None, None),
            Err(_) => (Outcome::Timeout, None, None),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        SendReport { outcome, duration_ms, response_excerpt, retry_after }
    }

    /// The addresses the connection may go to, in the resolver's order.
    async fn vetted_addresses(&self, host: &Host<&str>) -> Result<Vec<IpAddr>, Outcome> {
        let resolved = match host {
            Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
            Host::Domain(name) => match self.resolver.lookup(name).await {
                Ok(ips) if !ips.is_empty() => ips,
                _ => return Err(Outcome::DnsError),
            },
        };
        let vetted: Vec<IpAddr> = resolved.iter().copied().filter(|ip| self.policy.permits(*ip)).collect();
        match (vetted.is_empty(), resolved.first()) {
            (true, Some(first_refused)) => Err(Outcome::BlockedDestination(*first_refused)),
            _ => Ok(vetted),
        }
    }

    async fn connect(&self, addresses: &[IpAddr], port: u16) -> Result<TcpStream, Outcome> {
        let mut last = Outcome::ConnectionRefused;
        for ip in addresses {
            match tokio::time::timeout(self.connect_timeout, self.dialer.dial(SocketAddr::new(*ip, port))).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(err)) if err.kind() == io::ErrorKind::TimedOut => last = Outcome::Timeout,
                Ok(Err(_)) => last = Outcome::ConnectionRefused,
                Err(_) => last = Outcome::Timeout,
            }
        }
        Err(last)
    }

    async fn attempt(&self, request: &OutgoingRequest) -> Result<(Outcome, Option<String>, Option<u64>), Outcome> {
        let url = Url::parse(&request.url).map_err(|_| Outcome::DnsError)?;
        let https = match url.scheme() {
            "https" => true,
            "http" if self.policy.allow_http => false,
            // An http URL after the operator closed http: TLS is required and absent.
            _ => return Err(Outcome::TlsError),
        };
        let host = url.host().ok_or(Outcome::DnsError)?;
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        let addresses = self.vetted_addresses(&host).await?;
        let tcp = self.connect(&addresses, port).await?;

        let stream: Box<dyn Stream> = if https {
            let name = match &host {
                Host::Domain(d) => rustls::pki_types::ServerName::try_from(d.to_string()),
                Host::Ipv4(ip) => Ok(rustls::pki_types::ServerName::IpAddress(IpAddr::V4(*ip).into())),
                Host::Ipv6(ip) => Ok(rustls::pki_types::ServerName::IpAddress(IpAddr::V6(*ip).into())),
            }
            .map_err(|_| Outcome::TlsError)?;
            Box::new(self.tls.connect(name, tcp).await.map_err(|_| Outcome::TlsError)?)
        } else {
            Box::new(tcp)
        };

        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Outcome::ConnectionRefused)?;
        let driver = tokio::spawn(connection);

        let host_header = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut builder = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(path)
            .header(hyper::header::HOST, host_header)
            .header(hyper::header::CONTENT_LENGTH, request.body.len());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let outgoing = builder.body(Full::new(request.body.clone())).map_err(|_| Outcome::ConnectionRefused)?;

        let result = async {
            let response = sender.send_request(outgoing).await.map_err(|_| Outcome::ConnectionRefused)?;
            let outcome = Outcome::from_status(response.status().as_u16());
            let retry_after = response
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let mut body = response.into_body();
            let mut excerpt = Vec::new();
            while excerpt.len() < RESPONSE_EXCERPT_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            let room = RESPONSE_EXCERPT_BYTES - excerpt.len();
                            excerpt.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    // A body cut short still leaves the status as the answer.
                    Some(Err(_)) | None => break,
                }
            }
            Ok::<_, Outcome>((outcome, Some(String::from_utf8_lossy(&excerpt).into_owned()), retry_after))
        }
        .await;
        // The rest of the response is not read: the connection is dropped with it.
        driver.abort();
        result
    }
}
