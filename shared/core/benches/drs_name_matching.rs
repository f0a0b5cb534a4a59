//! Matching 1000 DRS source servers to 1000 launch targets by normalised name (target: well
//! under 10 ms). Run: `cargo bench -p autorestart-core --bench drs_name_matching`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use autorestart_core::drs::match_targets;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let pairs = 1000;
    let hostnames: Vec<(String, String)> = (0..pairs)
        .map(|i| {
            (
                format!("s-{i:017x}"),
                format!("App-Server-{i:04}.corp.example.com"),
            )
        })
        .collect();
    let names: Vec<(String, String)> = (0..pairs)
        .map(|i| (format!("i-{i:017x}"), format!(" app-server-{i:04} ")))
        .collect();
    let sources: Vec<(&str, Option<&str>)> = hostnames
        .iter()
        .map(|(id, h)| (id.as_str(), Some(h.as_str())))
        .collect();
    let targets: Vec<(&str, Option<&str>)> = names
        .iter()
        .map(|(id, n)| (id.as_str(), Some(n.as_str())))
        .collect();

    let runs = if full { 200 } else { 3 };
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let matched = black_box(match_targets(black_box(&sources), black_box(&targets)));
            let elapsed = started.elapsed();
            assert_eq!(matched.values().filter(|m| m.is_ok()).count(), pairs);
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "DRS name matching, {pairs} pairs, {runs} runs: median {:.3} ms, worst {:.3} ms (target: well under 10 ms)",
        times[runs / 2].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3
    );
}
