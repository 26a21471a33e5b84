//! The sender: one POST to a subscriber's URL behind the destination guard (SPEC §6).
//!
//! The host is resolved once; every address the guard refuses is dropped; the connection
//! goes to a vetted address and nowhere else (no second lookup, so DNS rebinding cannot slip
//! a private address in). Redirects are never followed, no proxy from the environment is
//! used, the connect step has 5 s and the whole attempt 15 s, at most 1 KiB of the response
//! is read, and every ending is one of the SPEC §5 reasons.
//!
//! Connections are kept alive between attempts to the same destination (scheme, host name,
//! port), which saves receivers a TCP and TLS handshake per event. The guard still decides
//! every attempt: the name is resolved again, and an idle connection is taken only when the
//! address it leads to is among this attempt's vetted ones.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use hookpost_domain::delivery::{parse_retry_after, Outcome, RESPONSE_EXCERPT_BYTES};
use hookpost_domain::{DestinationPolicy, Reason};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);
/// An idle connection older than this is closed rather than reused: receivers' servers
/// commonly drop idle connections after 60 s or more.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per destination, and in all.
const MAX_IDLE_PER_DESTINATION: usize = 128;
const MAX_IDLE: usize = 2048;
/// A response body is drained (in the background) up to this much for its connection to be
/// reused; a bigger one closes the connection.
const MAX_DRAIN_BYTES: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Where a connection leads, as far as reusing it goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Destination {
    https: bool,
    host: String,
    port: u16,
}

struct IdleConnection {
    peer: IpAddr,
    connection: Connection,
    since: Instant,
}

/// Idle keep-alive connections by destination.
#[derive(Default)]
struct Pool {
    idle: Mutex<Idle>,
}

#[derive(Default)]
struct Idle {
    by_destination: HashMap<Destination, Vec<IdleConnection>>,
    count: usize,
}

impl Idle {
    fn usable(c: &IdleConnection, now: Instant) -> bool {
        now.duration_since(c.since) < IDLE_TIMEOUT && !c.connection.is_closed()
    }
}

impl Pool {
    /// The most recently returned live connection to `destination` whose peer is vetted.
    /// Connections found expired or closed on the way are dropped; the rest are not looked
    /// at (this runs once per attempt).
    fn take(&self, destination: &Destination, vetted: &[IpAddr]) -> Option<(IpAddr, Connection)> {
        let now = Instant::now();
        let mut guard = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let idle = &mut *guard;
        let list = idle.by_destination.get_mut(destination)?;
        let mut at = list.len();
        let mut found = None;
        while at > 0 && found.is_none() {
            at -= 1;
            if !Idle::usable(&list[at], now) {
                list.swap_remove(at);
                idle.count -= 1;
            } else if vetted.contains(&list[at].peer) && list[at].connection.is_ready() {
                let taken = list.swap_remove(at);
                idle.count -= 1;
                found = Some((taken.peer, taken.connection));
            }
        }
        if list.is_empty() {
            idle.by_destination.remove(destination);
        }
        found
    }

    fn put(&self, destination: Destination, peer: IpAddr, connection: Connection) {
        let now = Instant::now();
        let mut guard = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let idle = &mut *guard;
        if idle.count >= MAX_IDLE {
            // Full: clear out what has expired everywhere (rare; bounded by MAX_IDLE).
            idle.by_destination.retain(|_, list| {
                list.retain(|c| Idle::usable(c, now));
                !list.is_empty()
            });
            idle.count = idle.by_destination.values().map(Vec::len).sum();
        }
        let list = idle.by_destination.entry(destination).or_default();
        if idle.count < MAX_IDLE && list.len() < MAX_IDLE_PER_DESTINATION {
            list.push(IdleConnection { peer, connection, since: now });
            idle.count += 1;
        }
    }
}

/// How an exchange that failed after the connection was made ended: an answer hookpost
/// cannot read is `invalid_response` (an oversized header block among them), anything else
/// — a reset, a close before the whole answer — is `connection_reset`. Never
/// `connection_refused`: the receiver took the connection.
fn after_connect(err: &hyper::Error) -> Outcome {
    if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        Outcome::Failed(Reason::InvalidResponse)
    } else {
        Outcome::Failed(Reason::ConnectionReset)
    }
}

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

/// The operating system's resolver, except for the names `HOOKPOST_RESOLVE` answers (tests and
/// local development; the guard still vets what they answer).
pub struct OverridingResolver {
    pub overrides: hookpost_domain::ResolveOverrides,
    pub fallback: Arc<dyn Resolver>,
}

#[async_trait]
impl Resolver for OverridingResolver {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        match self.overrides.lookup(host) {
            Some(ip) => Ok(vec![ip]),
            None => self.fallback.lookup(host).await,
        }
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
    pool: Arc<Pool>,
}

/// Why the sender's TLS client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("no trusted root certificates found on this system")]
    NoRoots,
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS client trusting the system's roots, HTTP/1.1 only, on the same crypto provider the
/// AWS SDK uses.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsSetupError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A connection's transport, TLS or not: one type, so hyper's client is built once for it.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl Sender {
    /// The production sender: the system resolver (but for `overrides`), real TCP, the
    /// system's roots.
    pub fn new(policy: DestinationPolicy, overrides: hookpost_domain::ResolveOverrides) -> Result<Self, TlsSetupError> {
        let resolver: Arc<dyn Resolver> = if overrides.is_empty() {
            Arc::new(SystemResolver)
        } else {
            Arc::new(OverridingResolver { overrides, fallback: Arc::new(SystemResolver) })
        };
        Ok(Self::with_parts(policy, resolver, Arc::new(TcpDialer), tls_config()?))
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
            pool: Arc::new(Pool::default()),
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
            Err(_) => (Outcome::Failed(Reason::Timeout), None, None),
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
                _ => return Err(Outcome::Failed(Reason::DnsError)),
            },
        };
        let vetted: Vec<IpAddr> = resolved.iter().copied().filter(|ip| self.policy.permits(*ip)).collect();
        match (vetted.is_empty(), resolved.first()) {
            (true, Some(first_refused)) => Err(Outcome::Failed(Reason::BlockedDestination(*first_refused))),
            _ => Ok(vetted),
        }
    }

    async fn connect(&self, addresses: &[IpAddr], port: u16) -> Result<(IpAddr, TcpStream), Outcome> {
        let mut last = Outcome::Failed(Reason::ConnectionRefused);
        for ip in addresses {
            match tokio::time::timeout(self.connect_timeout, self.dialer.dial(SocketAddr::new(*ip, port))).await {
                Ok(Ok(stream)) => return Ok((*ip, stream)),
                Ok(Err(err)) if err.kind() == io::ErrorKind::TimedOut => last = Outcome::Failed(Reason::Timeout),
                Ok(Err(_)) => last = Outcome::Failed(Reason::ConnectionRefused),
                Err(_) => last = Outcome::Failed(Reason::Timeout),
            }
        }
        Err(last)
    }

    async fn attempt(&self, request: &OutgoingRequest) -> Result<(Outcome, Option<String>, Option<u64>), Outcome> {
        let url = Url::parse(&request.url).map_err(|_| Outcome::Failed(Reason::DeliveryError))?;
        let https = match url.scheme() {
            "https" => true,
            "http" if self.policy.allow_http => false,
            // An http URL after the operator closed http: TLS is required and absent.
            _ => return Err(Outcome::Failed(Reason::TlsError)),
        };
        let host = url.host().ok_or(Outcome::Failed(Reason::DnsError))?;
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        let addresses = self.vetted_addresses(&host).await?;
        let destination = Destination { https, host: url.host_str().unwrap_or_default().to_owned(), port };

        let host_header = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        // Names the subscription wrote in another case than hyper's lower case.
        let spelling =
            crate::header_case::extensions_keeping_case(request.headers.iter().map(|(n, _)| n.as_str())).await;
        let build = || {
            let mut builder = hyper::Request::builder()
                .method(hyper::Method::POST)
                .uri(path.as_str())
                .header(hyper::header::HOST, host_header.as_str())
                .header(hyper::header::CONTENT_LENGTH, request.body.len());
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            // A header the request cannot carry: hookpost could not make this delivery.
            let mut built =
                builder.body(Full::new(request.body.clone())).map_err(|_| Outcome::Failed(Reason::DeliveryError))?;
            if let Some(spelling) = &spelling {
                *built.extensions_mut() = spelling.clone();
            }
            Ok(built)
        };

        // An idle connection first. If the receiver closed it meanwhile, hyper hands the
        // request back unsent and the attempt goes on over a new connection; once any of it
        // may have been sent, the attempt ends here (a second send would be a duplicate).
        if let Some((peer, mut connection)) = self.pool.take(&destination, &addresses) {
            match connection.try_send_request(build()?).await {
                Ok(response) => return Ok(self.read_response(response, destination, peer, connection).await),
                Err(mut failed) => {
                    if failed.take_message().is_none() {
                        return Err(after_connect(failed.error()));
                    }
                }
            }
        }

        let (peer, tcp) = self.connect(&addresses, port).await?;
        let stream: Box<dyn Stream> = if https {
            let name = match &host {
                Host::Domain(d) => rustls::pki_types::ServerName::try_from(d.to_string()),
                Host::Ipv4(ip) => Ok(rustls::pki_types::ServerName::IpAddress(IpAddr::V4(*ip).into())),
                Host::Ipv6(ip) => Ok(rustls::pki_types::ServerName::IpAddress(IpAddr::V6(*ip).into())),
            }
            .map_err(|_| Outcome::Failed(Reason::TlsError))?;
            Box::new(self.tls.connect(name, tcp).await.map_err(|_| Outcome::Failed(Reason::TlsError))?)
        } else {
            Box::new(tcp)
        };
        let (mut connection, driver) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| after_connect(&e))?;
        // The driver ends by itself once the connection is closed or dropped.
        tokio::spawn(driver);
        let response = connection.send_request(build()?).await.map_err(|e| after_connect(&e))?;
        Ok(self.read_response(response, destination, peer, connection).await)
    }

    /// The outcome, the first 1 KiB of the body and any `Retry-After`. The rest of the body
    /// is drained in the background, and the connection kept for the next attempt when that
    /// ends cleanly and soon.
    async fn read_response(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
        destination: Destination,
        peer: IpAddr,
        mut connection: Connection,
    ) -> (Outcome, Option<String>, Option<u64>) {
        let outcome = Outcome::from_status(response.status().as_u16());
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = response.into_body();
        let mut excerpt = Vec::new();
        // `Some(true)`: the body ended; `Some(false)`: it was cut short (the status still
        // stands as the answer); `None`: more than the excerpt is still to come.
        let mut ended = None;
        while excerpt.len() < RESPONSE_EXCERPT_BYTES && ended.is_none() {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = RESPONSE_EXCERPT_BYTES - excerpt.len();
                        excerpt.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(_)) => ended = Some(false),
                None => ended = Some(true),
            }
        }
        let answer = (outcome, Some(String::from_utf8_lossy(&excerpt).into_owned()), retry_after);
        match ended {
            Some(false) => return answer,
            // The usual small answer, read whole: the connection goes back at once (a
            // `Connection: close` shows as closed when it is next taken, and is dropped).
            Some(true) => {
                self.pool.put(destination, peer, connection);
                return answer;
            }
            None => {}
        }
        let pool = Arc::clone(&self.pool);
        tokio::spawn(async move {
            let drained = async {
                let mut read = 0;
                loop {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            read += frame.data_ref().map_or(0, Bytes::len);
                            if read > MAX_DRAIN_BYTES {
                                return false;
                            }
                        }
                        Some(Err(_)) => return false,
                        None => break,
                    }
                }
                connection.ready().await.is_ok()
            };
            // A long or endless body, or a `Connection: close`, drops the connection.
            if tokio::time::timeout(DRAIN_TIMEOUT, drained).await == Ok(true) {
                pool.put(destination, peer, connection);
            }
        });
        answer
    }
}
