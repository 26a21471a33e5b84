//! Webhook receivers that misbehave on purpose, for the soak (`hookpost-bench soak`).
//!
//! A hand-written HTTP/1.1 server (keep-alive, `content-length` bodies, which is all
//! hookpost sends), because a framework cannot do the two things a soak needs: reset the
//! TCP connection after reading a request, and hang without ever answering. The path names
//! the behaviour (`/r/<behaviour>`, `/recovery/<n>`); every request is noted by path and
//! `webhook-id` with whether it was answered 2xx.

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

    /// What arrived at `path`, by webhook-id.
    pub fn seen_at(&self, path: &str) -> HashMap<String, Seen> {
        self.lock().seen.iter().filter(|((p, _), _)| p == path).map(|((_, id), seen)| (id.clone(), *seen)).collect()
    }

    /// The webhook-ids of the requests that arrived at `path`, in the order they arrived.
    pub fn arrivals_at(&self, path: &str) -> Vec<String> {
        self.lock().arrivals.iter().filter(|(p, _)| p == path).map(|(_, id)| id.clone()).collect()
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
            let Some((path, webhook_id)) = read_request(&mut reader).await else { return };
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

/// Reads one request: its path and `webhook-id`; `None` at the end of the connection or on
/// anything that is not a request hookpost would send.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Option<String>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let (mut length, mut webhook_id) = (0usize, None);
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        } else if name.eq_ignore_ascii_case("webhook-id") {
            webhook_id = Some(value.trim().to_owned());
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some((path, webhook_id))
}
