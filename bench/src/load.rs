//! A plain HTTP/1.1 load generator: `connections` keep-alive connections, each sending the
//! next request as soon as the previous answer is read (closed loop), for a fixed time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request, repeated.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub method: hyper::Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The status every answer must have; others count as errors.
    pub expect: u16,
}

impl RequestSpec {
    pub fn get(path: impl Into<String>, expect: u16) -> Self {
        Self { method: hyper::Method::GET, path: path.into(), headers: Vec::new(), body: Bytes::new(), expect }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn build(&self, addr: SocketAddr) -> hyper::Request<Full<Bytes>> {
        let mut builder =
            hyper::Request::builder().method(self.method.clone()).uri(&self.path).header("host", addr.to_string());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(self.body.clone())).expect("a valid request")
    }
}

/// Latencies in microseconds, sorted.
#[derive(Clone, Debug, Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn new(mut micros: Vec<u64>) -> Self {
        micros.sort_unstable();
        Self(micros)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0–100) in milliseconds, nearest rank.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1] as f64 / 1000.0
    }
}

/// Rates of repeated runs of one measurement (per second): their median and range, as the
/// side-by-side tables give them.
#[derive(Clone, Debug, Default)]
pub struct Rates(Vec<f64>);

impl Rates {
    pub fn push(&mut self, rate: f64) {
        self.0.push(rate);
        self.0.sort_by(f64::total_cmp);
    }

    pub fn median(&self) -> f64 {
        match self.0.len() {
            0 => 0.0,
            n if n % 2 == 1 => self.0[n / 2],
            n => (self.0[n / 2 - 1] + self.0[n / 2]) / 2.0,
        }
    }

    /// `median (min–max)`, or the one figure of a single run.
    pub fn describe(&self) -> String {
        match (self.0.first(), self.0.last()) {
            (Some(min), Some(max)) if self.0.len() > 1 => format!("{:.0} ({min:.0}–{max:.0})", self.median()),
            _ => format!("{:.0}", self.median()),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies: Latencies,
}

impl LoadReport {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs the closed loop for `duration` after a warm-up of a tenth of it (not counted).
pub async fn closed_loop(addr: SocketAddr, spec: &RequestSpec, connections: usize, duration: Duration) -> LoadReport {
    let _ = run(addr, spec, connections, duration / 10).await;
    run(addr, spec, connections, duration).await
}

async fn run(addr: SocketAddr, spec: &RequestSpec, connections: usize, duration: Duration) -> LoadReport {
    let spec = Arc::new(spec.clone());
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> =
        (0..connections).map(|_| tokio::spawn(connection_loop(addr, Arc::clone(&spec), deadline))).collect();
    let mut micros = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (lat, err) = task.await.expect("load task");
        micros.extend(lat);
        errors += err;
    }
    let elapsed = start.elapsed();
    LoadReport { requests: micros.len() as u64, errors, elapsed, latencies: Latencies::new(micros) }
}

async fn connection_loop(addr: SocketAddr, spec: Arc<RequestSpec>, deadline: Instant) -> (Vec<u64>, u64) {
    let mut micros = Vec::with_capacity(4096);
    let mut errors = 0;
    while Instant::now() < deadline {
        let Ok(stream) = TcpStream::connect(addr).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
            errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let started = Instant::now();
            let Ok(res) = sender.send_request(spec.build(addr)).await else {
                errors += 1;
                break;
            };
            let status = res.status().as_u16();
            if res.into_body().collect().await.is_err() {
                errors += 1;
                break;
            }
            if status == spec.expect {
                micros.push(started.elapsed().as_micros() as u64);
            } else {
                errors += 1;
            }
        }
    }
    (micros, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let l = Latencies::new((1..=100).rev().map(|ms| ms * 1000).collect());
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.percentile_ms(100.0), 100.0);
        assert_eq!(l.percentile_ms(0.0), 1.0);
        assert!(Latencies::default().percentile_ms(50.0).is_nan());
    }
}
