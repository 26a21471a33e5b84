//! Webhook receivers that misbehave on purpose, for the soak (`hookpost-bench soak`).
//!
//! A hand-written HTTP/1.1 server (keep-alive, `content-length` bodies, which is all
//! hookpost sends), because a framework cannot do the two things a soak needs: reset the
//! TCP connection after reading a request, and hang without ever answering. The path names
//! the behaviour (`/r/<behaviour>`, `/recovery/<n>`); every request is noted by path and
//! `webhook-id` with whether it was answered 2xx. A receiver told its subscription's secret
//! ([`FaultReceivers::verify_with`]) checks every request's signature with the Standard
//! Webhooks library (`standardwebhooks`), as a customer's receiver would, and counts what it
//! refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How a receiver answers one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    /// Always 204.
    Ok,
    /// 500 with this probability, else 204.
    Error(f64),
    /// With this probability no answer at all: the connection is held past the sender's
    /// 15 s timeout, then closed. Else 204.
    Hang(f64),
    /// With this probability the connection is reset (TCP RST) after the request was read.
    /// Else 204.
    Reset(f64),
    /// 503 with `Retry-After: 1` with this probability, else 204.
    Busy(f64),
}

impl Behaviour {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error(_) => "error",
            Self::Hang(_) => "hang",
            Self::Reset(_) => "reset",
            Self::Busy(_) => "busy",
        }
    }
}

/// What one request got.
enum Action {
    Answer(u16),
    Reset,
    Hang,
}

/// Per (path, webhook-id): requests seen and 2xx answers given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub requests: u32,
    pub delivered: u32,
}

#[derive(Default)]
struct State {
    behaviours: HashMap<String, Behaviour>,
    seen: HashMap<(String, String), Seen>,
    /// Every request's (path, webhook-id), in the order they arrived.
    arrivals: Vec<(String, String)>,
    /// Every request's bytes (its head and body): what leaves AWS for the receivers.
    bytes: u64,
    /// Signing secrets by receiver name (`/r/<name>` and `/recovery/<name>` share one).
    secrets: HashMap<String, Arc<standardwebhooks::Webhook>>,
    pub(crate) signatures: Signatures,
    /// When the last request arrived.
    last_request: Option<std::time::Instant>,
}

/// What the receivers made of the signatures they checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signatures {
    /// Requests whose signature `standardwebhooks` accepted.
    pub verified: u64,
    /// Requests it refused, with a few examples (path, webhook-id, the library's error).
    pub refused: u64,
    pub refused_examples: Vec<String>,
    /// Requests to a receiver with no secret to check them with.
    pub unchecked: u64,
}

/// The receivers' server and what it saw.
#[derive(Clone)]
pub struct FaultReceivers {
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    hang: Duration,
}

impl FaultReceivers {
    /// Listens on a free loopback port; `hang` is how long a hanging answer holds the
    /// connection (past the sender's 15 s).
    pub async fn start(hang: Duration) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("receivers: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let receivers = Self { addr, state: Arc::default(), hang };
        let serving = receivers.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serving.clone().connection(stream));
            }
        });
        Ok(receivers)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The URL of a receiver behaving as `behaviour`, under a name of the caller's choosing.
    pub fn url(&self, name: &str, behaviour: Behaviour) -> String {
        let path = format!("/r/{name}");
        self.lock().behaviours.insert(path.clone(), behaviour);
        format!("http://{}{path}", self.addr)
    }

    /// Checks every request to the receiver `name` (`/r/<name>`, `/recovery/<name>`) against
    /// `secret` (`whsec_…`).
    pub fn verify_with(&self, name: &str, secret: &str) -> Result<(), String> {
        let webhook = standardwebhooks::Webhook::new(secret).map_err(|e| format!("the secret of {name}: {e}"))?;
        self.lock().secrets.insert(name.to_owned(), Arc::new(webhook));
        Ok(())
    }

    /// What the signature checks found so far.
    pub fn signatures(&self) -> Signatures {
        self.lock().signatures.clone()
    }

    /// How long ago the last request arrived (since the start when none has).
    pub fn quiet_for(&self) -> Duration {
        self.lock().last_request.map_or(Duration::MAX, |at| at.elapsed())
    }

    /// What arrived at `path`, by webhook-id.
    pub fn seen_at(&self, path: &str) -> HashMap<String, Seen> {
        self.lock().seen.iter().filter(|((p, _), _)| p == path).map(|((_, id), seen)| (id.clone(), *seen)).collect()
    }

    /// The webhook-ids of the requests that arrived at `path`, in the order they arrived.
    pub fn arrivals_at(&self, path: &str) -> Vec<String> {
        self.lock().arrivals.iter().filter(|(p, _)| p == path).map(|(_, id)| id.clone()).collect()
    }

    /// The bytes of every request received (heads and bodies).
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Requests received, anywhere.
    pub fn requests(&self) -> u64 {
        self.lock().seen.values().map(|s| u64::from(s.requests)).sum()
    }

    /// Requests answered 2xx, anywhere.
    pub fn delivered(&self) -> u64 {
        self.lock().seen.values().map(|s| u64::from(s.delivered.min(1))).sum()
    }

    fn decide(&self, path: &str) -> Action {
        // Unknown paths (the recovery receivers among them) always take the delivery.
        let behaviour = self.lock().behaviours.get(path).copied().unwrap_or(Behaviour::Ok);
        let roll = rand::random::<f64>();
        match behaviour {
            Behaviour::Ok => Action::Answer(204),
            Behaviour::Error(p) if roll < p => Action::Answer(500),
            Behaviour::Hang(p) if roll < p => Action::Hang,
            Behaviour::Reset(p) if roll < p => Action::Reset,
            Behaviour::Busy(p) if roll < p => Action::Answer(503),
            _ => Action::Answer(204),
        }
    }

    fn note(&self, path: &str, webhook_id: Option<String>, delivered: bool) {
        let Some(id) = webhook_id else { return };
        let mut state = self.lock();
        state.arrivals.push((path.to_owned(), id.clone()));
        let seen = state.seen.entry((path.to_owned(), id)).or_default();
        seen.requests += 1;
        seen.delivered += u32::from(delivered);
    }

    async fn connection(self, stream: TcpStream) {
        let mut reader = BufReader::new(stream);
        loop {
            let Some(request) = read_request(&mut reader).await else { return };
            let (path, webhook_id) = (request.path.clone(), request.header("webhook-id").map(str::to_owned));
            self.check(&request);
            match self.decide(&path) {
                Action::Answer(status) => {
                    let extra = if status == 503 { "retry-after: 1\r\n" } else { "" };
                    let head = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n{extra}\r\n");
                    // Noted before the answer leaves: once the sender has read a 2xx it may
                    // record the delivery at once, and the soak must never see a recorded
                    // delivery it did not count.
                    self.note(&path, webhook_id, (200..300).contains(&status));
                    if reader.get_mut().write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Action::Reset => {
                    self.note(&path, webhook_id, false);
                    let _ = reader.get_ref().set_zero_linger();
                    return;
                }
                Action::Hang => {
                    self.note(&path, webhook_id, false);
                    tokio::time::sleep(self.hang).await;
                    return;
                }
            }
        }
    }
}

impl FaultReceivers {
    /// Counts the request's bytes and checks its signature with its receiver's secret.
    fn check(&self, request: &Request) {
        let name = request.path.trim_start_matches("/r/").trim_start_matches("/recovery/");
        let mut state = self.lock();
        state.bytes += request.bytes;
        state.last_request = Some(std::time::Instant::now());
        let Some(webhook) = state.secrets.get(name).cloned() else {
            state.signatures.unchecked += 1;
            return;
        };
        match webhook.verify(&request.body, &request.headers) {
            Ok(()) => state.signatures.verified += 1,
            Err(err) => {
                let signatures = &mut state.signatures;
                signatures.refused += 1;
                if signatures.refused_examples.len() < 5 {
                    signatures.refused_examples.push(format!(
                        "{} {}: {err}",
                        request.path,
                        request.header("webhook-id").unwrap_or("(no webhook-id)")
                    ));
                }
            }
        }
    }
}

/// One request as read off the connection.
struct Request {
    path: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
    /// Its size on the wire: head and body.
    bytes: u64,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Reads one request; `None` at the end of the connection or on anything that is not a
/// request hookpost would send.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut bytes = line.len();
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0usize;
    let mut headers = http::HeaderMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        bytes += line.len();
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
        let name = http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        headers.append(name, http::HeaderValue::from_str(value.trim()).ok()?);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request { path, headers, body, bytes: (bytes + length) as u64 })
}
