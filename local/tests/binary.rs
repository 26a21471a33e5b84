//! The real `hookpost-local` binary: it logs where it listens, prints a generated admin
//! key, serves, keeps its state on DynamoDB when pointed there, and stops cleanly on
//! SIGTERM and SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Local {
    child: Child,
    addr: String,
    admin_key: Option<String>,
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Local {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookpost-local"));
    cmd.args(args).env("HOOKPOST_ADDR", "127.0.0.1:0").env_remove("HOOKPOST_ADMIN_KEY").env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start hookpost-local");
    // From here on a failing assertion still stops the process (Drop).
    let mut local = Local { child, addr: String::new(), admin_key: None };
    let stdout = local.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("hookpost-local logs its address");
        if let Some(key) = line.strip_prefix("HOOKPOST_ADMIN_KEY=") {
            local.admin_key = Some(key.to_owned());
        }
        if let Some(at) = line.find("listening on http://") {
            local.addr = line[at + "listening on http://".len()..].split_whitespace().next().unwrap().to_owned();
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
    let key = local.admin_key.clone().expect("a generated admin key is printed");
    assert!(key.starts_with("hp_admin_"));
    let (status, body) = request(&local.addr, "POST", "/internal/v1/accounts", &key, r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, _) =
        request(&local.addr, "POST", "/internal/v1/accounts", "not-the-key", r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 401);
    signal_and_wait(local, "-TERM");

    let local = spawn(&[], &[("HOOKPOST_ADMIN_KEY", "my-key")]);
    assert_eq!(local.admin_key, None, "a configured key is not printed");
    let (status, _) =
        request(&local.addr, "POST", "/internal/v1/accounts", "my-key", r#"{"name":"Acme","plan":"pro"}"#);
    assert_eq!(status, 201);
    signal_and_wait(local, "-INT");
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
fn keeps_its_state_on_dynamodb() {
    let Ok(endpoint) = std::env::var("HOOKPOST_TEST_DYNAMODB_ENDPOINT") else {
        assert!(std::env::var("HOOKPOST_REQUIRE_DYNAMODB").as_deref() != Ok("1"), "no DynamoDB endpoint");
        eprintln!("skipped: HOOKPOST_TEST_DYNAMODB_ENDPOINT is unset");
        return;
    };
    let table = format!("local-bin-{}", std::process::id());
    let env = [("HOOKPOST_TABLE", table.as_str()), ("HOOKPOST_ADMIN_KEY", "k")];
    let local = spawn(&["--dynamodb-endpoint", &endpoint], &env);
    let (status, body) = request(&local.addr, "POST", "/internal/v1/accounts", "k", r#"{"name":"Kept","plan":"pro"}"#);
    assert_eq!(status, 201, "{body}");
    let id = body.split("\"id\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    signal_and_wait(local, "-TERM");

    let local = spawn(&[], &[("HOOKPOST_DYNAMODB_ENDPOINT", endpoint.as_str()), env[0], env[1]]);
    let (status, body) =
        request(&local.addr, "PATCH", &format!("/internal/v1/accounts/{id}"), "k", r#"{"plan":"business"}"#);
    assert_eq!(status, 200, "the account survived the restart: {body}");
    assert!(body.contains("\"name\":\"Kept\""));
    signal_and_wait(local, "-TERM");
}
