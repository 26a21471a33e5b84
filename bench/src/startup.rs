//! Lambda start-up: each function's `bootstrap` (from `cargo lambda build`'s zips) started
//! against a tiny Lambda runtime API emulator; the figure is the time from spawning the
//! process to its first `GET /2018-06-01/runtime/invocation/next`, which it makes only
//! after its set-up (tracing, configuration, SDK clients) is done.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct Options {
    /// `target/lambda`: one folder per function holding `bootstrap.zip`.
    pub lambda_dir: PathBuf,
    pub out_dir: PathBuf,
    pub runs: usize,
}

/// The CPU an ELF executable is for, from its header's `e_machine`.
fn elf_machine(header: &[u8]) -> Option<&'static str> {
    if header.get(..4)? != b"\x7fELF" {
        return None;
    }
    match u16::from_le_bytes([*header.get(18)?, *header.get(19)?]) {
        0x3e => Some("x86_64"),
        0xb7 => Some("aarch64"),
        _ => Some("another CPU"),
    }
}

/// Refuses, with a reason, a binary this machine cannot execute (rather than "Exec format
/// error" from deep inside a run).
fn runnable_here(bootstrap: &Path) -> Result<(), String> {
    let mut header = [0u8; 20];
    let read = std::fs::File::open(bootstrap).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    read.map_err(|e| format!("{}: {e}", bootstrap.display()))?;
    match elf_machine(&header) {
        Some(machine) if machine == std::env::consts::ARCH => Ok(()),
        Some(machine) => Err(format!(
            "{} is built for {machine}, and this machine executes {} binaries: build them for it \
             (scripts/bench does, into target/lambda-native)",
            bootstrap.display(),
            std::env::consts::ARCH
        )),
        None => Err(format!("{} is not an ELF executable", bootstrap.display())),
    }
}

pub async fn run(opts: &Options) -> Result<(), String> {
    let mut functions: Vec<PathBuf> = std::fs::read_dir(&opts.lambda_dir)
        .map_err(|e| format!("{}: {e} (run scripts/check-lambda first)", opts.lambda_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.join("bootstrap.zip").is_file())
        // Only this workspace's functions: target/lambda may hold other builds' leftovers.
        .filter(|dir| dir.file_name().is_some_and(|name| Path::new("functions").join(name).is_dir()))
        .collect();
    functions.sort();
    if functions.is_empty() {
        return Err(format!("no */bootstrap.zip under {}", opts.lambda_dir.display()));
    }
    println!("| function | zip | median start → first /next | slowest of {} |", opts.runs);
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    let (mut zips, mut slowest) = (serde_json::Map::new(), Duration::ZERO);
    for dir in functions {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let zip = dir.join("bootstrap.zip");
        let zip_bytes = std::fs::metadata(&zip).map_err(|e| e.to_string())?.len();
        let unpacked = opts.out_dir.join("startup").join(&name);
        unzip(&zip, &unpacked)?;
        let bootstrap = unpacked.join("bootstrap");
        runnable_here(&bootstrap)?;
        let mut times = Vec::with_capacity(opts.runs);
        for _ in 0..opts.runs {
            times.push(time_to_first_poll(&bootstrap, &name).await?);
        }
        times.sort();
        let median = times[times.len() / 2];
        medians.push(median);
        slowest = slowest.max(*times.last().unwrap_or(&median));
        zips.insert(name.clone(), (zip_bytes as f64 / 1e6).into());
        println!(
            "| {name} | {:.2} MB ({:.2} MiB) | {:.1} ms | {:.1} ms |",
            zip_bytes as f64 / 1e6,
            zip_bytes as f64 / (1024.0 * 1024.0),
            ms(median),
            ms(*times.last().unwrap_or(&median))
        );
    }
    medians.sort();
    println!();
    println!(
        "start-up over {} functions: median {:.1} ms, slowest median {:.1} ms",
        medians.len(),
        ms(medians[medians.len() / 2]),
        ms(*medians.last().unwrap_or(&Duration::ZERO))
    );
    let mut figures = crate::figures::Figures::new("startup");
    figures.set("functions", medians.len());
    figures.set("median_ms", ms(medians[medians.len() / 2]));
    figures.set("slowest_median_ms", ms(*medians.last().unwrap_or(&Duration::ZERO)));
    figures.set("slowest_ms", ms(slowest));
    figures.set("runs", opts.runs);
    figures.set("zip_mb", zips);
    figures.write(&opts.out_dir)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn unzip(zip: &Path, into: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(into);
    std::fs::create_dir_all(into).map_err(|e| e.to_string())?;
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(zip)
        .arg(into)
        .status()
        .map_err(|e| format!("python3 -m zipfile: {e}"))?;
    if !status.success() {
        return Err(format!("could not unpack {}", zip.display()));
    }
    let bootstrap = into.join("bootstrap");
    let mut perms = std::fs::metadata(&bootstrap).map_err(|e| e.to_string())?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&bootstrap, perms).map_err(|e| e.to_string())
}

/// Spawns `bootstrap` with the environment Lambda gives it and waits for its first poll.
pub async fn time_to_first_poll(bootstrap: &Path, name: &str) -> Result<Duration, String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (polled, first_poll) = oneshot::channel::<Instant>();
    let polled = Arc::new(Mutex::new(Some(polled)));
    let emulator = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let polled = Arc::clone(&polled);
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let at = Instant::now();
                    let polled = Arc::clone(&polled);
                    async move {
                        if req.uri().path().ends_with("/runtime/invocation/next") {
                            if let Some(tx) = polled.lock().unwrap_or_else(|e| e.into_inner()).take() {
                                let _ = tx.send(at);
                            }
                            // Hold the poll open: no invocation is needed for this figure.
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });

    let started = Instant::now();
    let mut child = Command::new(bootstrap)
        .env_clear()
        .envs(lambda_environment(name, &addr.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bootstrap.display()))?;
    let result = tokio::time::timeout(Duration::from_secs(10), first_poll).await;
    let _ = child.kill();
    let _ = child.wait();
    emulator.abort();
    match result {
        Ok(Ok(at)) => Ok(at - started),
        _ => Err(format!("{name} did not poll the runtime API within 10 s")),
    }
}

/// What the Lambda service sets for a `provided.al2023` function of this template.
fn lambda_environment(name: &str, runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[$LATEST]bench"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK"),
        ("AWS_SECRET_ACCESS_KEY", "benchmark"),
        ("AWS_SESSION_TOKEN", "benchmark"),
        ("_HANDLER", "bootstrap"),
        ("TZ", ":UTC"),
        ("HOOKPOST_TABLE", "hookpost"),
        ("HOOKPOST_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/hookpost-delivery"),
        ("HOOKPOST_RATE_LIMIT_PER_MINUTE", "60"),
        ("HOOKPOST_MAX_ACTIVE_SUBSCRIPTIONS", "25"),
        ("HOOKPOST_RETRY_SCHEDULE", "0,60,600,3600,21600"),
        // As the template sets it: the functions that open sealed secrets need a key at start
        // (KMS is first called when a secret is, not at start-up).
        ("HOOKPOST_KMS_KEY_ID", "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_from_an_elf_header() {
        let mut header = [0u8; 20];
        header[..4].copy_from_slice(b"\x7fELF");
        header[18] = 0x3e;
        assert_eq!(elf_machine(&header), Some("x86_64"));
        header[18] = 0xb7;
        assert_eq!(elf_machine(&header), Some("aarch64"));
        assert_eq!(elf_machine(b"#!/bin/sh\necho hi\n  "), None);
    }
}
