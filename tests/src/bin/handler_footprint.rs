//! The release `alarm-handler` binary's cold start and memory, measured as Lambda would see them.
//!
//! - init: process start to its first `GET /runtime/invocation/next` (configuration read, SDK
//!   clients built), median and worst of 20 starts;
//! - peak RSS (VmHWM) of the process after recovering N protected instances on moto.
//!
//! Run: `cargo build --release -p alarm-handler && cargo run --release -p e2e --bin handler_footprint`
//! (or `cargo xtask bench`). Arguments: the instance counts, default `10 100`.

use std::time::{Duration, Instant};

use e2e::function::Function;
use e2e::moto::{Moto, workspace_root};
use e2e::runtime_api::{Answer, RuntimeApi};
use e2e::world::{self, Clients};

const STARTS: usize = 20;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn cold_start() -> (Duration, Duration) {
    let mut inits = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let api = RuntimeApi::start();
        let started = Instant::now();
        let _function = Function::start(
            "alarm-handler",
            api.address(),
            "http://127.0.0.1:9",
            &[("TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:t")],
        );
        let deadline = started + Duration::from_secs(10);
        let first = loop {
            if let Some(at) = api.first_poll() {
                break at;
            }
            assert!(
                Instant::now() < deadline,
                "the handler never polled the runtime API"
            );
            std::thread::sleep(Duration::from_micros(200));
        };
        inits.push(first - started);
    }
    inits.sort();
    (inits[STARTS / 2], inits[STARTS - 1])
}

#[tokio::main]
async fn main() {
    let counts: Vec<i32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![10, 100]
    } else {
        counts
    };
    println!(
        "binary: {}",
        e2e::function::binary_path("alarm-handler").display()
    );
    let (median, worst) = cold_start();
    println!(
        "init (process start -> first runtime-API poll), {STARTS} starts: median {:.1} ms, worst {:.1} ms",
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );

    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("events/alarm-outpost-down.json")).unwrap(),
    )
    .unwrap();
    for count in counts {
        let moto = Moto::start();
        let clients = Clients::new(moto.endpoint()).await;
        let seeded = world::seed(&clients).await;
        world::add_protected(&clients, &seeded, count - 2).await;
        world::outpost_down(&clients).await;
        let api = RuntimeApi::start();
        let function = Function::start(
            "alarm-handler",
            api.address(),
            moto.endpoint(),
            &[
                ("TOPIC_ARN", seeded.topic_arn.as_str()),
                ("MAX_CONCURRENCY", "64"),
                ("HEALTH_WAIT_SECONDS", "10"),
                ("HEALTH_POLL_SECONDS", "1"),
            ],
        );
        let started = Instant::now();
        let report = match api.invoke(&event, Duration::from_secs(600)) {
            Answer::Response(report) => report,
            Answer::Error(error) => panic!("{error}\n{}", function.logs()),
        };
        let elapsed = started.elapsed();
        let recovered = report["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["outcome"] == "recovered")
            .count();
        println!(
            "N = {count:>5}: {recovered} recovered in {:.1} s on moto; peak RSS {:.1} MiB",
            elapsed.as_secs_f64(),
            peak_rss_kib(function.pid()) as f64 / 1024.0
        );
    }
}
