//! `hookpost-bench <benchmark> [options]`; `scripts/bench` runs them all.

use std::path::PathBuf;

use hookpost_bench::{api, control, delivery, dynamo, sink, soak, startup, workload};

const HELP: &str = "hookpost-bench: the benchmarks behind docs/BENCHMARKS.md

Each writes the figures its targets are checked against to <out>/figures/<benchmark>.json
(default out: target/bench), from which scripts/bench_doc.py writes docs/BENCHMARKS.md.

USAGE:
  hookpost-bench delivery --local-bin PATH [--baseline-bin PATH] [--rounds N] [--out DIR] [--quick]
                          [--deliveries N] [--subscriptions N]
  hookpost-bench api      --local-bin PATH [--baseline-bin PATH] [--rounds N] [--out DIR] [--quick]
                          (with --baseline-bin, another build measured beside it, alternating;
                          a GET route under 90 % of the baseline's rate fails the run)
  hookpost-bench control  --local-bin PATH [--out DIR] [--quick]   (the rate limit's accuracy, FIFO throughput)
  hookpost-bench startup  --lambda-dir DIR [--out DIR] [--runs N]
  hookpost-bench dynamo   --endpoint URL [--out DIR]
  hookpost-bench workload --endpoint URL [--accounts N] [--events N] [--out DIR]
                          (a realistic workload through the real handlers, priced all in beside EventBridge)
  hookpost-bench soak     --local-bin PATH --mode faults|crash|throttle [--events N] [--kills N]
                          [--receivers N] [--throttle SHARE] [--endpoint URL] [--drain-timeout SECS] [--out DIR]
                          [--publish single|batch|ingest]
                          (fails when an accepted delivery is lost; --header prints the table head)
  hookpost-bench sink     ADDR          (the benchmark's HTTP sink; the others start it)
";

struct Args(Vec<String>);

impl Args {
    fn value(&self, flag: &str) -> Option<String> {
        self.0.iter().position(|a| a == flag).and_then(|i| self.0.get(i + 1)).cloned()
    }

    fn required(&self, flag: &str) -> Result<String, String> {
        self.value(flag).ok_or_else(|| format!("{flag} is required\n\n{HELP}"))
    }

    fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }

    fn out_dir(&self) -> Result<PathBuf, String> {
        let dir = PathBuf::from(self.value("--out").unwrap_or_else(|| "target/bench".to_owned()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }
}

async fn run(command: &str, args: &Args) -> Result<(), String> {
    match command {
        "sink" => {
            let addr = args.0.get(1).ok_or("sink needs an address")?;
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("{addr}: {e}"))?;
            sink::serve(listener).await;
            Ok(())
        }
        "delivery" => {
            let deliveries =
                args.value("--deliveries").map(|n| n.parse().map_err(|_| "--deliveries takes a number")).transpose()?;
            let subscriptions = args
                .value("--subscriptions")
                .map(|n| n.parse().ok().filter(|n| (1..=25).contains(n)).ok_or("--subscriptions takes 1 to 25"))
                .transpose()?;
            let rounds =
                args.value("--rounds").map(|n| n.parse().map_err(|_| "--rounds takes a number")).transpose()?;
            let opts = delivery::Options {
                local_bin: args.required("--local-bin")?.into(),
                baseline_bin: args.value("--baseline-bin").map(PathBuf::from),
                rounds: rounds.unwrap_or(3),
                out_dir: args.out_dir()?,
                quick: args.has("--quick"),
                deliveries,
                subscriptions,
            };
            delivery::run(&opts).await
        }
        "control" => {
            control::run(&control::Options {
                local_bin: args.required("--local-bin")?.into(),
                out_dir: args.out_dir()?,
                quick: args.has("--quick"),
            })
            .await
        }
        "api" => {
            let baseline_bin = args.value("--baseline-bin").map(PathBuf::from);
            let rounds =
                args.value("--rounds").map(|n| n.parse().map_err(|_| "--rounds takes a number")).transpose()?;
            let opts = api::Options {
                rounds: rounds.unwrap_or(if baseline_bin.is_some() { 3 } else { 1 }),
                baseline_bin,
                local_bin: args.required("--local-bin")?.into(),
                out_dir: args.out_dir()?,
                quick: args.has("--quick"),
            };
            api::run(&opts).await
        }
        "startup" => {
            let runs = args.value("--runs").map(|r| r.parse().map_err(|_| "--runs takes a number")).transpose()?;
            let opts = startup::Options {
                lambda_dir: args.required("--lambda-dir")?.into(),
                out_dir: args.out_dir()?,
                runs: runs.unwrap_or(5).max(1),
            };
            startup::run(&opts).await
        }
        "dynamo" => {
            dynamo::run(&dynamo::Options { endpoint: args.required("--endpoint")?, out_dir: args.out_dir()? }).await
        }
        "workload" => {
            let number = |flag: &str, default: usize| {
                args.value(flag).map_or(Ok(default), |n| n.parse().map_err(|_| format!("{flag} takes a number")))
            };
            workload::run(&workload::Options {
                endpoint: args.required("--endpoint")?,
                accounts: number("--accounts", 10_000)?,
                events: number("--events", 20_000)?,
                out_dir: args.out_dir()?,
            })
            .await
        }
        "soak" => {
            if args.has("--header") {
                soak::print_header();
            }
            let number = |flag: &str, default: u64| -> Result<u64, String> {
                args.value(flag).map_or(Ok(default), |n| n.parse().map_err(|_| format!("{flag} takes a number")))
            };
            let mode = args.required("--mode")?;
            let opts = soak::Options {
                local_bin: args.required("--local-bin")?.into(),
                out_dir: args.out_dir()?,
                mode: soak::Mode::parse(&mode).ok_or_else(|| format!("unknown --mode {mode}"))?,
                events: number("--events", 1_000)?,
                kills: u32::try_from(number("--kills", 2)?).map_err(|_| "--kills is too large")?,
                throttle: args.value("--throttle").map_or(Ok(0.1), |s| {
                    s.parse::<f64>().ok().filter(|p| (0.0..=1.0).contains(p)).ok_or("--throttle takes 0 to 1")
                })?,
                endpoint: args.value("--endpoint"),
                drain_timeout: std::time::Duration::from_secs(number("--drain-timeout", 600)?),
                receivers: usize::try_from(number("--receivers", 2)?)
                    .map_err(|_| "--receivers is too large")?
                    .clamp(1, 25),
                via: {
                    let via = args.value("--publish").unwrap_or_else(|| "single".to_owned());
                    hookpost_bench::publisher::Via::parse(&via).ok_or_else(|| format!("unknown --publish {via}"))?
                },
            };
            soak::run(&opts).await
        }
        _ => Err(HELP.to_owned()),
    }
}

#[tokio::main]
async fn main() {
    let args = Args(std::env::args().skip(1).collect());
    let command = args.0.first().cloned().unwrap_or_default();
    if command.is_empty() || args.has("--help") || args.has("-h") {
        print!("{HELP}");
        return;
    }
    if let Err(err) = run(&command, &args).await {
        eprintln!("hookpost-bench {command}: {err}");
        std::process::exit(1);
    }
}
