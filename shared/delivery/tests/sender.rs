//! The sender against a real receiver on loopback, and the destination guard with an
//! injected resolver and a recording dialer: refusals are proven without a packet sent to a
//! private (or any non-loopback) address.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hookpost_delivery::sender::{tls_config, Dialer, Resolver, TcpDialer};
use hookpost_delivery::{OutgoingRequest, Sender};
use hookpost_domain::delivery::Outcome;
use hookpost_domain::{Cidr, DestinationPolicy, Reason};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug, Default)]
struct Seen {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    path: String,
}

/// A receiver on 127.0.0.1 answering every request with `status`, `headers` and `body`
/// after `delay`, and recording what it got.
async fn receiver(
    status: u16,
    headers: &[(&'static str, &'static str)],
    reply: &'static str,
    delay: Duration,
) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let headers: Vec<(&'static str, &'static str)> = headers.to_vec();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let record = Arc::clone(&record);
            let headers = headers.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let record = Arc::clone(&record);
                    let headers = headers.clone();
                    async move {
                        let path = req.uri().to_string();
                        let hs = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        record.lock().unwrap().push(Seen { headers: hs, body, path });
                        tokio::time::sleep(delay).await;
                        let mut res = hyper::Response::builder().status(status);
                        for (k, v) in &headers {
                            res = res.header(*k, *v);
                        }
                        Ok::<_, Infallible>(res.body(Full::new(Bytes::from_static(reply.as_bytes()))).unwrap())
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (addr, seen)
}

fn loopback_policy() -> DestinationPolicy {
    DestinationPolicy { allow_http: true, allow_cidrs: Cidr::parse_list("127.0.0.0/8").unwrap() }
}

fn sender(policy: DestinationPolicy) -> Sender {
    Sender::with_parts(policy, Arc::new(FixedResolver(vec![])), Arc::new(TcpDialer), tls_config().unwrap())
}

fn request(url: String) -> OutgoingRequest {
    OutgoingRequest {
        url,
        headers: vec![("content-type".into(), "application/json".into()), ("webhook-id".into(), "evt_1".into())],
        body: Bytes::from_static(br#"{"hello":"world"}"#),
    }
}

/// Answers every lookup with the same addresses.
struct FixedResolver(Vec<IpAddr>);

#[async_trait]
impl Resolver for FixedResolver {
    async fn lookup(&self, _host: &str) -> io::Result<Vec<IpAddr>> {
        if self.0.is_empty() {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such host"))
        } else {
            Ok(self.0.clone())
        }
    }
}

/// Records every address it is asked to dial and connects to none of them.
#[derive(Default)]
struct RecordingDialer(Mutex<Vec<SocketAddr>>);

#[async_trait]
impl Dialer for RecordingDialer {
    async fn dial(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.0.lock().unwrap().push(addr);
        Err(io::Error::new(io::ErrorKind::ConnectionRefused, "recording dialer connects nowhere"))
    }
}

fn guarded(answer: Vec<IpAddr>) -> (Sender, Arc<RecordingDialer>) {
    let dialer = Arc::new(RecordingDialer::default());
    let sender = Sender::with_parts(
        DestinationPolicy::default(),
        Arc::new(FixedResolver(answer)),
        Arc::clone(&dialer) as Arc<dyn Dialer>,
        tls_config().unwrap(),
    );
    (sender, dialer)
}

#[tokio::test]
async fn delivers_with_content_length_and_reads_the_status() {
    let (addr, seen) = receiver(204, &[], "", Duration::ZERO).await;
    let report = sender(loopback_policy()).send(&request(format!("http://{addr}/hooks?x=1"))).await;
    assert_eq!(report.outcome, Outcome::Delivered { status: 204 });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.path, "/hooks?x=1");
    assert_eq!(got.body, br#"{"hello":"world"}"#);
    let header = |n: &str| got.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(header("content-length"), Some("17"));
    assert_eq!(header("transfer-encoding"), None);
    assert_eq!(header("webhook-id"), Some("evt_1"));
    assert_eq!(header("host"), Some(addr.to_string().as_str()));
}

#[tokio::test]
async fn never_follows_a_redirect() {
    let (target, target_seen) = receiver(200, &[], "", Duration::ZERO).await;
    let location: &'static str = Box::leak(format!("http://{target}/elsewhere").into_boxed_str());
    let (addr, seen) = receiver(302, &[("location", location)], "moved", Duration::ZERO).await;
    let report = sender(loopback_policy()).send(&request(format!("http://{addr}/"))).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::RedirectBlocked(302)));
    assert_eq!(report.outcome.reason().map(|r| r.to_string()).as_deref(), Some("redirect_blocked: 302"));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(target_seen.lock().unwrap().is_empty(), "the redirect target was never called");
}

#[tokio::test]
async fn classifies_statuses_and_keeps_1_kib_of_the_body() {
    let long: &'static str = Box::leak("x".repeat(5000).into_boxed_str());
    let (addr, _) = receiver(503, &[("retry-after", "120")], long, Duration::ZERO).await;
    let report = sender(loopback_policy()).send(&request(format!("http://{addr}/"))).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::HttpStatus(503)));
    assert_eq!(report.retry_after, Some(120));
    assert_eq!(report.response_excerpt.as_deref().map(str::len), Some(1024));

    let (addr, _) = receiver(500, &[], "boom", Duration::ZERO).await;
    let report = sender(loopback_policy()).send(&request(format!("http://{addr}/"))).await;
    assert_eq!(
        (report.outcome.reason().map(|r| r.to_string()).as_deref(), report.response_excerpt.as_deref()),
        (Some("http_status: 500"), Some("boom"))
    );
}

#[tokio::test]
async fn a_hanging_receiver_is_a_timeout() {
    let (addr, _) = receiver(200, &[], "", Duration::from_secs(30)).await;
    let s = sender(loopback_policy()).with_timeouts(Duration::from_secs(5), Duration::from_millis(300));
    let report = s.send(&request(format!("http://{addr}/"))).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::Timeout));
    assert!(report.duration_ms < 5000);
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let report = sender(loopback_policy()).send(&request(format!("http://{addr}/"))).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::ConnectionRefused));
}

#[tokio::test]
async fn an_unresolvable_name_is_a_dns_error() {
    let (s, dialer) = guarded(vec![]);
    let report = s.send(&request("https://no-such-host.example/".into())).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::DnsError));
    assert!(dialer.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_a_tls_error() {
    let (addr, _) = receiver(200, &[], "", Duration::ZERO).await;
    let report = sender(loopback_policy()).send(&request(format!("https://{addr}/"))).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::TlsError));
    let closed = sender(DestinationPolicy { allow_http: false, ..loopback_policy() });
    assert_eq!(closed.send(&request(format!("http://{addr}/"))).await.outcome, Outcome::Failed(Reason::TlsError));
}

#[tokio::test]
async fn every_refused_range_is_blocked_before_dialling() {
    let refused = [
        "0.0.0.1",
        "10.0.0.1",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.254",
        "192.0.0.1",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.51.100.1",
        "203.0.113.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fc00::1",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "100::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "64:ff9b::a9fe:a9fe",
        "2002:a00:1::1",
    ];
    for ip in refused {
        let ip: IpAddr = ip.parse().unwrap();
        let (s, dialer) = guarded(vec![ip]);
        let report = s.send(&request("https://hooks.example.com/in".into())).await;
        assert_eq!(report.outcome, Outcome::Failed(Reason::BlockedDestination(ip)), "{ip}");
        assert_eq!(report.outcome.reason().unwrap().to_string(), format!("blocked_destination: {ip}"));
        assert!(dialer.0.lock().unwrap().is_empty(), "{ip} was dialled");
    }
}

#[tokio::test]
async fn ip_literals_in_urls_meet_the_same_guard() {
    for url in [
        "https://10.0.0.1/",
        "https://[::ffff:192.168.0.1]/",
        "https://[64:ff9b::a00:1]/",
        "http://169.254.169.254/latest/meta-data",
    ] {
        let (s, dialer) = guarded(vec!["8.8.8.8".parse().unwrap()]);
        let report = s.send(&request(url.into())).await;
        assert!(
            matches!(
                report.outcome,
                Outcome::Failed(Reason::BlockedDestination(_)) | Outcome::Failed(Reason::TlsError)
            ),
            "{url}: {:?}",
            report.outcome
        );
        assert!(dialer.0.lock().unwrap().is_empty(), "{url} was dialled");
    }
}

#[tokio::test]
async fn a_mixed_answer_dials_only_the_public_address() {
    let public: IpAddr = "93.184.216.34".parse().unwrap();
    let answer = vec!["10.0.0.5".parse().unwrap(), public, "::1".parse().unwrap(), "169.254.169.254".parse().unwrap()];
    let (s, dialer) = guarded(answer);
    let report = s.send(&request("https://hooks.example.com/in".into())).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::ConnectionRefused), "the recording dialer connects nowhere");
    assert_eq!(*dialer.0.lock().unwrap(), vec![SocketAddr::new(public, 443)]);
}

#[tokio::test]
async fn the_allow_list_is_the_only_way_around() {
    let (addr, _) = receiver(200, &[], "", Duration::ZERO).await;
    let closed = DestinationPolicy { allow_http: true, allow_cidrs: vec![] };
    let report = sender(closed).send(&request(format!("http://{addr}/"))).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::BlockedDestination(addr.ip())));
    let open = sender(loopback_policy()).send(&request(format!("http://{addr}/"))).await;
    assert_eq!(open.outcome, Outcome::Delivered { status: 200 });
}

/// Answers with whatever it is told to at the moment of the lookup.
struct SwitchableResolver(Mutex<Vec<IpAddr>>);

#[async_trait]
impl Resolver for SwitchableResolver {
    async fn lookup(&self, _host: &str) -> io::Result<Vec<IpAddr>> {
        Ok(self.0.lock().unwrap().clone())
    }
}

/// Dials for real (loopback only in these tests) and records every address it dialled.
#[derive(Default)]
struct CountingDialer(Mutex<Vec<SocketAddr>>);

#[async_trait]
impl Dialer for CountingDialer {
    async fn dial(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        assert!(addr.ip().is_loopback(), "only loopback may be dialled here, not {addr}");
        self.0.lock().unwrap().push(addr);
        TcpDialer.dial(addr).await
    }
}

fn pooled(answer: IpAddr, policy: DestinationPolicy) -> (Sender, Arc<SwitchableResolver>, Arc<CountingDialer>) {
    let resolver = Arc::new(SwitchableResolver(Mutex::new(vec![answer])));
    let dialer = Arc::new(CountingDialer::default());
    let sender = Sender::with_parts(
        policy,
        Arc::clone(&resolver) as Arc<dyn Resolver>,
        Arc::clone(&dialer) as Arc<dyn Dialer>,
        tls_config().unwrap(),
    );
    (sender, resolver, dialer)
}

/// Sends, then gives the background drain a moment to return the connection to the pool.
async fn send_and_settle(sender: &Sender, url: &str) -> Outcome {
    let outcome = sender.send(&request(url.to_owned())).await.outcome;
    tokio::time::sleep(Duration::from_millis(50)).await;
    outcome
}

#[tokio::test]
async fn attempts_to_one_destination_share_a_kept_alive_connection() {
    let (addr, seen) = receiver(204, &[], "", Duration::ZERO).await;
    let (s, _, dialer) = pooled(addr.ip(), loopback_policy());
    let url = format!("http://receiver.test:{}/hook", addr.port());
    for _ in 0..3 {
        assert_eq!(send_and_settle(&s, &url).await, Outcome::Delivered { status: 204 });
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(*dialer.0.lock().unwrap(), vec![addr], "one connection for three attempts");
}

#[tokio::test]
async fn a_kept_connection_is_used_only_when_the_new_answer_vets_its_address() {
    let (addr, seen) = receiver(204, &[], "", Duration::ZERO).await;
    let (s, resolver, dialer) = pooled(addr.ip(), loopback_policy());
    let url = format!("http://receiver.test:{}/hook", addr.port());
    assert_eq!(send_and_settle(&s, &url).await, Outcome::Delivered { status: 204 });

    // The name now points at a refused address: blocked, though a connection is open.
    let private: IpAddr = "10.1.2.3".parse().unwrap();
    *resolver.0.lock().unwrap() = vec![private];
    assert_eq!(send_and_settle(&s, &url).await, Outcome::Failed(Reason::BlockedDestination(private)));
    // At another allowed address: dialled there, not sent over the kept connection.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    *resolver.0.lock().unwrap() = vec![other];
    assert_eq!(send_and_settle(&s, &url).await, Outcome::Failed(Reason::ConnectionRefused));

    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(*dialer.0.lock().unwrap(), vec![addr, SocketAddr::new(other, addr.port())]);
}

#[tokio::test]
async fn a_receiver_that_closes_its_connections_gets_a_new_one_each_time() {
    let (addr, seen) = receiver(200, &[("connection", "close")], "ok", Duration::ZERO).await;
    let (s, _, dialer) = pooled(addr.ip(), loopback_policy());
    let url = format!("http://receiver.test:{}/hook", addr.port());
    for _ in 0..2 {
        assert_eq!(send_and_settle(&s, &url).await, Outcome::Delivered { status: 200 });
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(dialer.0.lock().unwrap().len(), 2);
}

/// What a hand-written receiver does with the n-th request on a connection (0-based).
#[derive(Clone, Copy)]
enum Raw {
    /// Answers `204` and keeps the connection.
    NoContent,
    /// Reads the request, then resets the connection (TCP RST).
    Reset,
    /// Reads the request, then closes the connection without a word.
    Close,
    /// Answers bytes that are not HTTP.
    Garbage,
    /// Answers a header block far past what the sender reads.
    HugeHeaders,
}

/// A receiver that does `script[n]` with the n-th request of each connection and counts the
/// requests it read.
async fn raw_receiver(script: Vec<Raw>) -> (SocketAddr, Arc<Mutex<u32>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let read = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&read);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (script, counter) = (script.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                for action in script {
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).await.unwrap();
                    *counter.lock().unwrap() += 1;
                    let answer: Vec<u8> = match action {
                        Raw::NoContent => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
                        Raw::Reset => {
                            reader.get_ref().set_zero_linger().unwrap();
                            return;
                        }
                        Raw::Close => return,
                        Raw::Garbage => b"SMTP READY\r\n\r\n".to_vec(),
                        Raw::HugeHeaders => {
                            let headers: String =
                                (0..500).map(|i| format!("x-filler-{i}: {}\r\n", "v".repeat(100))).collect();
                            format!("HTTP/1.1 200 OK\r\n{headers}content-length: 0\r\n\r\n").into_bytes()
                        }
                    };
                    if reader.get_mut().write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, read)
}

#[tokio::test]
async fn a_reset_after_the_request_was_read_is_connection_reset() {
    let (addr, read) = raw_receiver(vec![Raw::Reset]).await;
    let report = sender(loopback_policy()).send(&request(format!("http://{addr}/"))).await;
    assert_eq!(report.outcome, Outcome::Failed(Reason::ConnectionReset));
    assert_eq!(report.outcome.reason().map(|r| r.to_string()).as_deref(), Some("connection_reset"));
    assert_eq!(*read.lock().unwrap(), 1);
}

#[tokio::test]
async fn answers_that_are_not_http_are_invalid_responses() {
    for script in [Raw::Garbage, Raw::HugeHeaders] {
        let (addr, _) = raw_receiver(vec![script]).await;
        let report = sender(loopback_policy()).send(&request(format!("http://{addr}/"))).await;
        assert_eq!(report.outcome, Outcome::Failed(Reason::InvalidResponse));
    }
}

#[tokio::test]
async fn a_kept_connection_that_breaks_mid_exchange_is_not_sent_on_again() {
    // The first request is answered and the connection kept; the second is read, then the
    // receiver goes away. That request may have been acted on: it must not go out twice.
    for ending in [Raw::Close, Raw::Reset] {
        let (addr, read) = raw_receiver(vec![Raw::NoContent, ending]).await;
        let (s, _, dialer) = pooled(addr.ip(), loopback_policy());
        let url = format!("http://receiver.test:{}/hook", addr.port());
        assert_eq!(send_and_settle(&s, &url).await, Outcome::Delivered { status: 204 });
        assert_eq!(send_and_settle(&s, &url).await, Outcome::Failed(Reason::ConnectionReset));
        assert_eq!(*read.lock().unwrap(), 2, "read once each");
        assert_eq!(dialer.0.lock().unwrap().len(), 1, "no second connection for the broken exchange");
    }
}

/// A receiver that answers one request with 204 and hands back its head as the bytes read.
async fn head_recorder() -> (SocketAddr, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut read = Vec::new();
        let mut buf = [0u8; 4096];
        while !read.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request ended before its head");
            read.extend_from_slice(&buf[..n]);
        }
        let head_end = read.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let _ = tx.send(String::from_utf8_lossy(&read[..head_end]).into_owned());
        stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
    });
    (addr, rx)
}

#[tokio::test]
async fn header_names_go_out_as_the_subscription_wrote_them() {
    let (addr, head) = head_recorder().await;
    let mut outgoing = request(format!("http://{addr}/"));
    outgoing.headers.push(("X-Tenant".into(), "acme".into()));
    outgoing.headers.push(("x-team".into(), "crm".into()));
    outgoing.headers.push(("X-API-Version".into(), "2".into()));
    let report = sender(loopback_policy()).send(&outgoing).await;
    assert_eq!(report.outcome, Outcome::Delivered { status: 204 });
    let head = head.await.unwrap();
    let lines: Vec<&str> = head.split("\r\n").collect();
    for wanted in ["X-Tenant: acme", "x-team: crm", "X-API-Version: 2", "webhook-id: evt_1", "content-length: 17"] {
        assert!(lines.contains(&wanted), "{wanted:?} not in the request head:\n{head}");
    }
}
