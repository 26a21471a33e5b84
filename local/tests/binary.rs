//! The real `hookpost-local` binary: it logs where it listens, prints a generated admin
//! key, says what a restart loses, serves, keeps its state on DynamoDB and its deliveries
//! on SQS when pointed there (so `kill -9` loses nothing accepted), and stops cleanly on
//! SIGTERM and SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The admin key the tests configure (hookpost-local refuses one under 32 characters).
const KEY: &str = "admin-key-for-the-binary-tests-0123";

struct Local {
    child: Child,
    addr: String,
    admin_key: Option<String>,
    /// What it printed up to the line saying where it listens.
    startup: Vec<String>,
    /// Everything it prints after that.
    lines: mpsc::Receiver<String>,
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Local {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookpost-local"));
    cmd.args(args).env("HOOKPOST_ADDR", "127.0.0.1:0").env_remove("HOOKPOST_ADMIN_KEY").env("RUST_LOG", "info");
    // What a durable run seals secrets with (the memory store ignores it).
    cmd.env("HOOKPOST_SECRETS_KEY", SECRETS_KEY);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start hookpost-local");
    // From here on a failing assertion still stops the process (Drop).
    let (tx, rx) = mpsc::channel();
    let mut local = Local { child, addr: String::new(), admin_key: None, startup: Vec::new(), lines: rx };
    let stdout = local.child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = local
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("hookpost-local logs its address");
        if let Some(key) = line.strip_prefix("HOOKPOST_ADMIN_KEY=") {
            local.admin_key = Some(key.to_owned());
        }
        local.startup.push(line.clone());
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on http://".len()..];
            local.addr = rest.chars().take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':')).collect();
            return local;
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.1 request, answered with (status, body).
fn request(addr: &str, method: &str, path: &str, bearer: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn signal_and_wait(mut local: Local, signal: &str) {
    let status = Command::new("kill").args([signal, &local.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = local.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(Instant::now() < deadline, "hookpost-local did not stop on {signal}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serves_and_stops_on_sigterm_and_sigint() {
    let local = spawn(&[], &[]);
    assert!(
        local.startup.iter().any(|l| l.contains("state in memory: a restart forgets every account")),
        "the memory mode says what a restart loses: {:?}",
        local.startup
    );
    let key = local.admin_key.clone().expect("a generated admin key is printed");
    assert!(key.starts_with("hp_admin_"));
    let (status, body) = request(&local.addr, "POST", "/internal/v1/accounts", &key, r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, _) =
        request(&local.addr, "POST", "/internal/v1/accounts", "not-the-key", r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 401);
    for probe in ["/healthz", "/readyz"] {
        let (status, body) = request(&local.addr, "GET", probe, "", "");
        assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#), "{probe}");
    }
    signal_and_wait(local, "-TERM");

    let local = spawn(&[], &[("HOOKPOST_ADMIN_KEY", KEY)]);
    assert_eq!(local.admin_key, None, "a configured key is not printed");
    let (status, _) = request(&local.addr, "POST", "/internal/v1/accounts", KEY, r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 201);
    let (status, _) =
        request(&local.addr, "POST", "/internal/v1/accounts", &KEY[..31], r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 401, "a prefix of the key is not the key");
    signal_and_wait(local, "-INT");
}

/// The admin key opens every account: one a person might guess is refused at start.
#[test]
fn a_short_admin_key_is_refused_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_hookpost-local"))
        .env("HOOKPOST_ADDR", "127.0.0.1:0")
        .env("HOOKPOST_ADMIN_KEY", "dev-admin-key")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("HOOKPOST_ADMIN_KEY must be at least 32 characters (it has 13)"), "{said}");
    assert!(!said.contains("dev-admin-key"), "the key itself is not repeated: {said}");
}

/// 32 bytes in base64: the tests' HOOKPOST_SECRETS_KEY.
const SECRETS_KEY: &str = "dGVzdHMtb25seS1zZWNyZXRzLWtleS0zMi1ieXRlcyE=";

/// With DynamoDB, secrets are sealed at rest: without a key to seal them under, no start.
#[test]
fn durable_mode_needs_a_secrets_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_hookpost-local"))
        .args(["--dynamodb-endpoint", "http://127.0.0.1:9"])
        .env("HOOKPOST_ADDR", "127.0.0.1:0")
        .env_remove("HOOKPOST_SECRETS_KEY")
        .env_remove("HOOKPOST_KMS_KEY_ID")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "a start error, before any connection");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("set HOOKPOST_SECRETS_KEY to 32 random bytes in base64"), "{said}");
    let short = Command::new(env!("CARGO_BIN_EXE_hookpost-local"))
        .args(["--dynamodb-endpoint", "http://127.0.0.1:9"])
        .env("HOOKPOST_ADDR", "127.0.0.1:0")
        .env("HOOKPOST_SECRETS_KEY", "c2hvcnQ=")
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("HOOKPOST_SECRETS_KEY: must be 32 bytes"));
}

#[test]
fn refuses_bad_configuration() {
    for (args, env) in [
        (vec!["--bogus"], vec![]),
        (vec!["--dynamodb-endpoint"], vec![]),
        (vec![], vec![("HOOKPOST_RATE_LIMIT_PER_MINUTE", "zero")]),
        (vec![], vec![("HOOKPOST_ALLOW_CIDRS", "10.0.0.0/99")]),
        (vec![], vec![("HOOKPOST_ADDR", "nowhere")]),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookpost-local"));
        cmd.args(&args).env("HOOKPOST_ADDR", "127.0.0.1:0");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("hookpost-local:"));
    }
    let help = Command::new(env!("CARGO_BIN_EXE_hookpost-local")).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("HOOKPOST_ALLOW_CIDRS"));
}

#[test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
fn keeps_its_state_on_dynamodb() {
    let endpoint = hookpost_testenv::dynamodb_endpoint();
    let table = format!("local-bin-{}", std::process::id());
    let env = [("HOOKPOST_TABLE", table.as_str()), ("HOOKPOST_ADMIN_KEY", KEY)];
    let local = spawn(&["--dynamodb-endpoint", &endpoint], &env);
    let (status, body) = request(&local.addr, "POST", "/internal/v1/accounts", KEY, r#"{"name":"Kept","plan":"pro"}"#);
    assert_eq!(status, 201, "{body}");
    let id = body.split("\"id\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    signal_and_wait(local, "-TERM");

    let local = spawn(&[], &[("HOOKPOST_DYNAMODB_ENDPOINT", endpoint.as_str()), env[0], env[1]]);
    let (status, body) =
        request(&local.addr, "PATCH", &format!("/internal/v1/accounts/{id}"), KEY, r#"{"plan":"business"}"#);
    assert_eq!(status, 200, "the account survived the restart: {body}");
    assert!(body.contains("\"name\":\"Kept\""));
    let (status, body) = request(&local.addr, "GET", "/readyz", "", "");
    assert_eq!(status, 200, "ready: DynamoDB and SQS answer: {body}");
    signal_and_wait(local, "-TERM");
}

/// A webhook receiver on a thread: answers each request with the next status of its
/// script (then 204), after `slow` when set, and notes (webhook-id, status); `arrived`
/// counts requests read, before they are answered.
struct StdReceiver {
    addr: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>,
    script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
    slow: std::sync::Arc<std::sync::Mutex<Duration>>,
    arrived: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StdReceiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let (noted, answers) = (std::sync::Arc::clone(&seen), std::sync::Arc::clone(&script));
        let slow = std::sync::Arc::new(std::sync::Mutex::new(Duration::ZERO));
        let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (delay, count) = (std::sync::Arc::clone(&slow), std::sync::Arc::clone(&arrived));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let (mut length, mut id) = (0usize, String::new());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("webhook-id:") {
                        id = line["webhook-id:".len()..].trim().to_owned();
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(*delay.lock().unwrap());
                let status = answers.lock().unwrap().pop_front().unwrap_or(204);
                noted.lock().unwrap().push((id, status));
                let _ =
                    write!(reader.get_mut(), "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Self { addr, seen, script, slow, arrived }
    }

    /// Waits (up to `secs`) until `event_id` was answered with a 2xx; how many requests
    /// for it arrived by then.
    fn wait_delivered(&self, event_id: &str, secs: u64) -> usize {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            let mine: Vec<u16> = seen.iter().filter(|(id, _)| id == event_id).map(|(_, s)| *s).collect();
            if mine.iter().any(|s| (200..300).contains(s)) {
                return mine.len();
            }
            assert!(Instant::now() < deadline, "{event_id} was not delivered: {seen:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn requests_for(&self, event_id: &str) -> usize {
        self.seen.lock().unwrap().iter().filter(|(id, _)| id == event_id).count()
    }
}

/// An account with a read-and-manage token and one subscription to `receiver`'s `/hook`:
/// (account id, token, subscription id).
fn customer(local: &Local, admin: &str, receiver: &StdReceiver) -> (String, String, String) {
    let (status, body) =
        request(&local.addr, "POST", "/internal/v1/accounts", admin, r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 201, "{body}");
    let account = value(&body, "id");
    let scopes = r#"{"scopes":["tasks.webhooks.read","tasks.webhooks.manage"]}"#;
    let (_, body) = request(&local.addr, "POST", &format!("/internal/v1/accounts/{account}/tokens"), admin, scopes);
    let token = value(&body, "token");
    let subscription = format!(r#"{{"url":"http://{}/hook"}}"#, receiver.addr);
    let (status, body) = request(&local.addr, "POST", "/api/v1/webhook-subscriptions", &token, &subscription);
    assert_eq!(status, 201, "{body}");
    let sub = value(&body, "id");
    (account, token, sub)
}

fn value(body: &str, field: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"));
    v[field].as_str().unwrap_or_else(|| panic!("{field} in {body}")).to_owned()
}

/// `kill -9` at the two moments that lost events before deliveries were queued durably:
/// right after a 202 (the first attempt still waiting in the queue), and while a retry
/// waits for its turn. The same command, started again, delivers both.
#[test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
fn a_kill_9_loses_no_accepted_event() {
    let endpoint = hookpost_testenv::dynamodb_endpoint();
    let receiver = StdReceiver::start();
    let table = format!("local-crash-{}", std::process::id());
    let env = [
        ("HOOKPOST_TABLE", table.as_str()),
        ("HOOKPOST_ADMIN_KEY", KEY),
        ("HOOKPOST_ALLOW_HTTP", "true"),
        ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8"),
        // The first attempt 2 s after publish, the retry 2 s after that.
        ("HOOKPOST_RETRY_SCHEDULE", "2,2"),
        ("HOOKPOST_QUEUE_VISIBILITY_SECONDS", "20"),
    ];
    let args = ["--dynamodb-endpoint", endpoint.as_str()];
    let mut local = spawn(&args, &env);
    assert!(local.startup.iter().any(|l| l.contains("deliveries queued on SQS")), "{:?}", local.startup);
    let (account, _, _) = customer(&local, KEY, &receiver);
    let publish = |local: &Local, id: &str| {
        let event = format!(r#"{{"account_id":"{account}","event":"call.ended","event_id":"{id}","data":{{}}}}"#);
        let (status, body) = request(&local.addr, "POST", "/internal/v1/events", KEY, &event);
        assert_eq!(status, 202, "{body}");
    };

    // The publish path: killed the moment the 202 arrives.
    publish(&local, "evt_before_attempt");
    local.child.kill().unwrap();
    local.child.wait().unwrap();
    assert_eq!(receiver.requests_for("evt_before_attempt"), 0, "killed before its first attempt");
    let mut local = spawn(&args, &env);
    assert_eq!(receiver.wait_delivered("evt_before_attempt", 30), 1);

    // The retry path: the first attempt is refused, the second waits in the queue.
    receiver.script.lock().unwrap().push_back(500);
    publish(&local, "evt_retrying");
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.requests_for("evt_retrying") == 0 {
        assert!(Instant::now() < deadline, "no first attempt");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the refused attempt's outcome be recorded (its retry queued), then kill.
    std::thread::sleep(Duration::from_millis(500));
    local.child.kill().unwrap();
    local.child.wait().unwrap();
    let local = spawn(&args, &env);
    assert!(receiver.wait_delivered("evt_retrying", 40) >= 2, "the retry came after the restart");
    signal_and_wait(local, "-TERM");
}

#[test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
fn refuses_to_start_without_a_durable_queue() {
    let endpoint = hookpost_testenv::dynamodb_endpoint();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hookpost-local"))
        .args(["--dynamodb-endpoint", &endpoint, "--sqs-endpoint", &format!("http://{unused}")])
        .env("HOOKPOST_ADDR", "127.0.0.1:0")
        .env("HOOKPOST_TABLE", format!("local-noqueue-{}", std::process::id()))
        .env("HOOKPOST_SECRETS_KEY", SECRETS_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the delivery queue at") && stderr.contains("--sqs-endpoint"), "{stderr}");
}

/// SIGTERM in the middle of a delivery: the receiver answers 3 s later, the process waits
/// for it (within its grace period), records the attempt, and stops; started again, it
/// finds the attempt recorded and sends nothing twice.
#[test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
fn sigterm_lets_a_delivery_in_flight_finish_and_records_it() {
    let endpoint = hookpost_testenv::dynamodb_endpoint();
    let receiver = StdReceiver::start();
    *receiver.slow.lock().unwrap() = Duration::from_secs(3);
    let table = format!("local-drain-{}", std::process::id());
    let env = [
        ("HOOKPOST_TABLE", table.as_str()),
        ("HOOKPOST_ADMIN_KEY", KEY),
        ("HOOKPOST_ALLOW_HTTP", "true"),
        ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8"),
        ("HOOKPOST_RETRY_SCHEDULE", "0"),
    ];
    let args = ["--dynamodb-endpoint", endpoint.as_str()];
    let mut local = spawn(&args, &env);
    let (account, token, sub) = customer(&local, KEY, &receiver);
    let event = format!(r#"{{"account_id":"{account}","event":"call.ended","event_id":"evt_draining","data":{{}}}}"#);
    let (status, body) = request(&local.addr, "POST", "/internal/v1/events", KEY, &event);
    assert_eq!(status, 202, "{body}");

    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.arrived.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the delivery never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &local.child.id().to_string()]).status().unwrap().success());
    let exit = loop {
        if let Some(status) = local.child.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(20), "hookpost-local did not stop within its grace");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit}");
    assert!(signalled.elapsed() >= Duration::from_secs(2), "it waited for the receiver's answer");
    assert_eq!(receiver.wait_delivered("evt_draining", 1), 1);

    let local = spawn(&args, &env);
    let (status, body) =
        request(&local.addr, "GET", &format!("/api/v1/webhook-subscriptions/{sub}/attempts"), &token, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""event_id":"evt_draining""#) && body.contains(r#""status_code":204"#), "recorded: {body}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.requests_for("evt_draining"), 1, "not sent again after the restart");
    signal_and_wait(local, "-TERM");
}

/// A whole session with hookpost-local logging JSON at debug level: every line is a JSON
/// object with a timestamp; each request has its access line and each attempt its delivery
/// line; `/metrics` counts them in Prometheus text; and no secret it was given or made appears anywhere — tokens, portal sessions,
/// signing secrets (rotated too), credentials, custom header values, the admin key.
#[test]
fn logs_say_what_happened_and_never_a_secret() {
    let receiver = StdReceiver::start();
    let admin = "admin-key-that-must-not-be-logged-7f3a";
    let local = spawn(
        &[],
        &[
            ("HOOKPOST_ADMIN_KEY", admin),
            ("HOOKPOST_ALLOW_HTTP", "true"),
            ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8"),
            ("HOOKPOST_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
        ],
    );
    let (_, body) = request(&local.addr, "POST", "/internal/v1/accounts", admin, r#"{"name":"Logs","plan":"pro"}"#);
    let account = value(&body, "id");
    let scopes = r#"{"scopes":["tasks.webhooks.read","tasks.webhooks.manage"]}"#;
    let (_, body) = request(&local.addr, "POST", &format!("/internal/v1/accounts/{account}/tokens"), admin, scopes);
    let token = value(&body, "token");
    let (status, body) =
        request(&local.addr, "POST", &format!("/internal/v1/accounts/{account}/portal-sessions"), admin, "{}");
    assert_eq!(status, 201, "{body}");
    let link = value(&body, "token");
    let (status, body) = request(&local.addr, "POST", "/portal/sessions", "", &format!(r#"{{"link":"{link}"}}"#));
    assert_eq!(status, 201, "{body}");
    let session = value(&body, "session");
    let subscription = format!(
        r#"{{"url":"http://{}/hook","headers":{{"x-api-key":"header-value-secret-91c2"}},
            "authentication":{{"method":"basic","username":"svc","password":"basic-password-secret-44d0"}}}}"#,
        receiver.addr
    );
    let (status, body) = request(&local.addr, "POST", "/api/v1/webhook-subscriptions", &token, &subscription);
    assert_eq!(status, 201, "{body}");
    let (sub, secret) = (value(&body, "id"), value(&body, "secret"));
    let (_, body) =
        request(&local.addr, "POST", &format!("/api/v1/webhook-subscriptions/{sub}/rotate-secret"), &session, "");
    let rotated = value(&body, "secret");
    let (status, _) = request(&local.addr, "GET", "/api/v1/me", &session, "");
    assert_eq!(status, 200);
    let event = format!(r#"{{"account_id":"{account}","event":"call.ended","event_id":"evt_logged","data":{{}}}}"#);
    let (status, _) = request(&local.addr, "POST", "/internal/v1/events", admin, &event);
    assert_eq!(status, 202);
    receiver.wait_delivered("evt_logged", 30);
    std::thread::sleep(Duration::from_millis(300));
    let (status, metrics) = request(&local.addr, "GET", "/metrics", "", "");
    assert_eq!(status, 200);
    for expected in [
        "hookpost_events_published 1",
        r#"hookpost_delivery_attempts{outcome="delivered",reason="none"} 1"#,
        "hookpost_attempt_duration_seconds_count 1",
        "hookpost_publish_to_delivery_seconds_count 1",
        "hookpost_queued_tasks 0",
    ] {
        assert!(metrics.lines().any(|l| l == expected), "/metrics has `{expected}`:\n{metrics}");
    }
    // Delivered attempts are logged together, once a second (`deliveries` lines).
    let mut lines: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|l| l.contains(r#""log":"deliveries""#)) && std::time::Instant::now() < deadline {
        if let Ok(line) = local.lines.recv_timeout(Duration::from_millis(100)) {
            lines.push(line);
        }
    }
    lines.extend(local.lines.try_iter());
    signal_and_wait(local, "-TERM");

    for secret in [
        admin,
        token.as_str(),
        link.as_str(),
        session.as_str(),
        &secret,
        &rotated,
        "header-value-secret-91c2",
        "basic-password-secret-44d0",
    ] {
        let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "a secret in the logs: {leaked:?}");
    }
    let records: Vec<serde_json::Value> =
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    assert!(records.iter().all(|r| r["timestamp"].is_string() && r["level"].is_string()));
    let created = records
        .iter()
        .find(|r| r["log"] == "request" && r["route"] == "/api/v1/webhook-subscriptions" && r["method"] == "POST")
        .expect("an access line for the subscription's creation");
    assert_eq!(created["status"], 201);
    assert_eq!(created["account_id"], account.as_str());
    assert!(created["duration_ms"].is_u64() && created["request_id"].is_string(), "{created}");
    let delivered = records.iter().find(|r| r["log"] == "deliveries").expect("a line for the delivered attempts");
    assert_eq!((delivered["account_id"].as_str(), delivered["delivered"].as_u64()), (Some(account.as_str()), Some(1)));
    let entry = delivered["attempts"].as_str().unwrap_or_default();
    assert!(entry.starts_with(&format!("evt_logged {sub} #1 204 ")) && entry.ends_with("ms"), "{delivered}");
    // At debug level (this session's) a delivered attempt also has a line of its own.
    let attempt = records
        .iter()
        .find(|r| r["log"] == "delivery_attempt" && r["event_id"] == "evt_logged")
        .expect("at debug level, a line for the delivered attempt");
    assert_eq!((attempt["status_code"].as_u64(), attempt["outcome"].as_str()), (Some(204), Some("delivered")));
    assert_eq!((attempt["subscription_id"].as_str(), attempt["attempt"].as_u64()), (Some(sub.as_str()), Some(1)));
}

/// At the default level a delivered attempt is listed in its account's `deliveries` line
/// (written every second), not given a line of its own; a failed attempt has its own line
/// with the reason.
#[test]
fn a_failed_attempt_has_its_own_line_and_delivered_ones_are_listed_together() {
    let receiver = StdReceiver::start();
    receiver.script.lock().unwrap().push_back(503);
    let local = spawn(
        &[],
        &[
            ("HOOKPOST_ADMIN_KEY", KEY),
            ("HOOKPOST_ALLOW_HTTP", "true"),
            ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8"),
            ("HOOKPOST_LOG_FORMAT", "json"),
            ("HOOKPOST_RETRY_SCHEDULE", "0,1"),
        ],
    );
    let (account, _, sub) = customer(&local, KEY, &receiver);
    for id in ["evt_retried", "evt_at_once"] {
        let event = format!(r#"{{"account_id":"{account}","event":"call.ended","event_id":"{id}","data":{{}}}}"#);
        assert_eq!(request(&local.addr, "POST", "/internal/v1/events", KEY, &event).0, 202);
    }
    assert_eq!(receiver.wait_delivered("evt_retried", 30), 2, "a 503, then a 204");
    receiver.wait_delivered("evt_at_once", 30);
    let mut records: Vec<serde_json::Value> = Vec::new();
    let listed = |records: &[serde_json::Value]| -> usize {
        records.iter().filter(|r| r["log"] == "deliveries").map(|r| r["delivered"].as_u64().unwrap_or(0) as usize).sum()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(&records) < 2 && Instant::now() < deadline {
        if let Ok(line) = local.lines.recv_timeout(Duration::from_millis(100)) {
            records.push(serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}")));
        }
    }
    signal_and_wait(local, "-TERM");

    let attempts: Vec<&serde_json::Value> = records.iter().filter(|r| r["log"] == "delivery_attempt").collect();
    assert_eq!(attempts.len(), 1, "only the failed attempt has a line: {attempts:?}");
    let failed = attempts[0];
    assert_eq!((failed["event_id"].as_str(), failed["attempt"].as_u64()), (Some("evt_retried"), Some(1)));
    assert_eq!((failed["outcome"].as_str(), failed["reason"].as_str()), (Some("failed"), Some("http_status: 503")));
    assert_eq!(failed["status_code"].as_u64(), Some(503));
    let entries: Vec<&str> = records
        .iter()
        .filter(|r| r["log"] == "deliveries" && r["account_id"] == account.as_str())
        .flat_map(|r| r["attempts"].as_str().unwrap_or_default().split(", "))
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    for (id, attempt) in [("evt_retried", 2), ("evt_at_once", 1)] {
        let prefix = format!("{id} {sub} #{attempt} 204 ");
        assert!(entries.iter().any(|e| e.starts_with(&prefix) && e.ends_with("ms")), "{prefix} in {entries:?}");
    }
}

/// In memory, the delivery queue is bounded: past `HOOKPOST_QUEUE_CAPACITY` tasks a publish
/// answers 503 `unavailable` with `Retry-After` instead of growing, and `/metrics` shows
/// the queue against its bound.
#[test]
fn a_full_queue_refuses_new_work_with_a_503() {
    let receiver = StdReceiver::start();
    let local = spawn(
        &[],
        &[
            ("HOOKPOST_ADMIN_KEY", KEY),
            ("HOOKPOST_ALLOW_HTTP", "true"),
            ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8"),
            // The first attempt a minute away: the task stays queued.
            ("HOOKPOST_RETRY_SCHEDULE", "60"),
            ("HOOKPOST_QUEUE_CAPACITY", "1"),
        ],
    );
    let (account, _, _) = customer(&local, KEY, &receiver);
    let event = format!(r#"{{"account_id":"{account}","event":"call.ended","data":{{}}}}"#);
    let (status, body) = request(&local.addr, "POST", "/internal/v1/events", KEY, &event);
    assert_eq!(status, 202, "{body}");
    let mut stream = TcpStream::connect(&local.addr).unwrap();
    write!(
        stream,
        "POST /internal/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{event}",
        event.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after:"), "{answer}");
    assert!(answer.contains(r#""error":"unavailable""#), "{answer}");
    let (_, metrics) = request(&local.addr, "GET", "/metrics", "", "");
    for expected in ["hookpost_queued_tasks 1", "hookpost_queue_capacity 1"] {
        assert!(metrics.lines().any(|l| l == expected), "`{expected}` in:\n{metrics}");
    }
    signal_and_wait(local, "-TERM");
}

/// What an operator webhook receiver got: (headers by lower-case name, body), in order.
type OperatorRequest = (std::collections::HashMap<String, String>, String);
type OperatorRequests = std::sync::Arc<std::sync::Mutex<Vec<OperatorRequest>>>;

fn operator_receiver() -> (String, OperatorRequests) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got: OperatorRequests = std::sync::Arc::default();
    let noted = std::sync::Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut headers = std::collections::HashMap::new();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
                line.clear();
            }
            let length = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            noted.lock().unwrap().push((headers, String::from_utf8_lossy(&body).into_owned()));
            let _ =
                write!(reader.get_mut(), "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (addr, got)
}

/// Five events a receiver fails in a row: five `failure.recorded` and one
/// `subscription.auto_disabled`, then a sixth event (refused at publish: the subscription is
/// disabled) one more record — each POSTed to the operator webhook, signed with its secret,
/// its `webhook-id` the event's id.
#[test]
fn operator_events_reach_the_signed_operator_webhook() {
    const SECRET: &str = "whsec_b3BlcmF0b3Itd2ViaG9vay1zZWNyZXQtMzItYnl0ZXMh";
    let receiver = StdReceiver::start();
    let (operator, got) = operator_receiver();
    let url = format!("http://{operator}/hookpost-events");
    let local = spawn(
        &[],
        &[
            ("HOOKPOST_ADMIN_KEY", KEY),
            ("HOOKPOST_ALLOW_HTTP", "true"),
            ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8"),
            ("HOOKPOST_RETRY_SCHEDULE", "0"),
            ("HOOKPOST_OPERATOR_WEBHOOK_URL", &url),
            ("HOOKPOST_OPERATOR_WEBHOOK_SECRET", SECRET),
        ],
    );
    // Where they go is said by origin: such URLs often carry a secret in the path.
    assert!(
        local.startup.iter().any(|l| l.contains(&format!("operator events go to a webhook at http://{operator}"))),
        "{:?}",
        local.startup
    );
    assert!(!local.startup.iter().any(|l| l.contains("/hookpost-events")), "{:?}", local.startup);
    let (account, _, sub) = customer(&local, KEY, &receiver);
    receiver.script.lock().unwrap().extend([500; 5]);
    let wait_for = |what: &str, done: &dyn Fn(&[OperatorRequest]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&got.lock().unwrap()) {
            assert!(Instant::now() < deadline, "{what}: {:?}", got.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let publish = |n: usize| {
        let event = format!(r#"{{"account_id":"{account}","event":"call.ended","event_id":"evt_op_{n}","data":{{}}}}"#);
        let (status, body) = request(&local.addr, "POST", "/internal/v1/events", KEY, &event);
        assert_eq!(status, 202, "{body}");
    };
    for n in 1..=5 {
        // One at a time: the fifth failure in a row is the one that disables.
        publish(n);
        wait_for(&format!("an operator event for evt_op_{n}"), &|got| got.len() >= n);
    }
    wait_for("the auto-disable", &|got| got.iter().any(|(_, b)| b.contains("subscription.auto_disabled")));
    publish(6);
    wait_for("seven operator events", &|got| got.len() >= 7);
    let got = got.lock().unwrap().clone();
    let mut kinds = Vec::new();
    for (headers, body) in &got {
        let sent: serde_json::Value = serde_json::from_str(body).unwrap();
        let (id, timestamp) = (&headers["webhook-id"], headers["webhook-timestamp"].parse::<i64>().unwrap());
        let expected = hookpost_domain::signing::sign(SECRET, id, timestamp, body.as_bytes()).unwrap();
        assert_eq!(headers["webhook-signature"], expected, "signed with the operator secret");
        assert_eq!(sent["id"], id.as_str());
        assert_eq!(
            (sent["source"].as_str(), sent["detail"]["account_id"].as_str()),
            (Some("hookpost"), Some(account.as_str()))
        );
        assert_eq!(sent["detail"]["subscription_id"], sub.as_str());
        kinds.push(sent["type"].as_str().unwrap().to_owned());
        if sent["type"] == "failure.recorded" {
            assert_eq!(sent["detail-type"], "Webhook Failure Recorded");
        }
    }
    assert_eq!(kinds.iter().filter(|k| *k == "failure.recorded").count(), 6, "{kinds:?}");
    let disabled: Vec<_> = got.iter().filter(|(_, b)| b.contains("subscription.auto_disabled")).collect();
    assert_eq!(disabled.len(), 1, "{kinds:?}");
    let detail: serde_json::Value = serde_json::from_str(&disabled[0].1).unwrap();
    assert_eq!(detail["detail"]["consecutive_failures"], 5);
    assert_eq!(detail["detail"]["last_error"], "http_status: 500");
    let sixth = got.iter().find(|(_, b)| b.contains("evt_op_6")).expect("the sixth event's record");
    let sixth: serde_json::Value = serde_json::from_str(&sixth.1).unwrap();
    assert_eq!(sixth["detail"]["reason"], "subscription_disabled");
    signal_and_wait(local, "-TERM");
}

#[test]
fn an_operator_webhook_needs_a_secret() {
    let output = Command::new(env!("CARGO_BIN_EXE_hookpost-local"))
        .env("HOOKPOST_ADDR", "127.0.0.1:0")
        .env("HOOKPOST_OPERATOR_WEBHOOK_URL", "http://127.0.0.1:9/ops")
        .env_remove("HOOKPOST_OPERATOR_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("HOOKPOST_OPERATOR_WEBHOOK_SECRET"), "{said}");
}
