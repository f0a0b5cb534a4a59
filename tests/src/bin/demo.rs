//! The demo: an emulated AWS with three Outpost servers, the first fails, and the real
//! alarm-handler binary recovers its protected instances. Run it with `cargo xtask demo`.

use std::time::Duration;

use e2e::function::Function;
use e2e::moto::{Moto, workspace_root};
use e2e::runtime_api::{Answer, RuntimeApi};
use e2e::world::{self, Clients, FAILED_OUTPOST, State};

#[tokio::main]
async fn main() {
    println!("Starting the AWS emulator (moto) and seeding three Outpost servers...");
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    let api = RuntimeApi::start();
    let function = Function::start(
        "alarm-handler",
        api.address(),
        moto.endpoint(),
        &[
            ("TOPIC_ARN", seeded.topic_arn.as_str()),
            ("HEALTH_WAIT_SECONDS", "10"),
            ("HEALTH_POLL_SECONDS", "1"),
        ],
    );

    let before = State::read(&clients, &seeded).await;
    println!("\nBEFORE\n{}", before.render(&seeded));

    let event_path = workspace_root().join("events/alarm-outpost-down.json");
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&event_path).unwrap()).unwrap();
    println!(
        "Outpost {FAILED_OUTPOST} loses its service link: delivering {} to the alarm handler...",
        event_path.display()
    );
    world::outpost_down(&clients).await;
    let started = std::time::Instant::now();
    let report = match api.invoke(&event, Duration::from_secs(120)) {
        Answer::Response(report) => report,
        Answer::Error(error) => {
            eprintln!(
                "the alarm handler failed: {error}\n--- its log ---\n{}",
                function.logs()
            );
            std::process::exit(1);
        }
    };
    println!("Handled in {:.1} s.", started.elapsed().as_secs_f64());

    for (subject, body) in world::notices(&clients, &seeded).await {
        println!("\nNOTIFICATION (SNS -> SQS)\nSubject: {subject}\n{body}");
    }

    let after = State::read(&clients, &seeded).await;
    println!("\nAFTER\n{}", after.render(&seeded));

    println!("What the handler returned (per instance):");
    for i in report["instances"].as_array().unwrap() {
        println!(
            "  {} {}: {} -> {} from {}",
            i["name"].as_str().unwrap_or("?"),
            i["instance_id"].as_str().unwrap_or("?"),
            i["outcome"].as_str().unwrap_or("?"),
            i["replacement_id"].as_str().unwrap_or("-"),
            i["template"].as_str().unwrap_or("-"),
        );
    }

    println!("Delivering the same event again (EventBridge may deliver twice)...");
    let again = match api.invoke(&event, Duration::from_secs(120)) {
        Answer::Response(report) => report,
        Answer::Error(error) => panic!("{error}"),
    };
    let unchanged = State::read(&clients, &seeded).await == after;
    let new_notices = world::notices(&clients, &seeded).await.len();
    println!(
        "  state unchanged: {unchanged}; new notifications: {new_notices}; notification status: {}",
        again["notification"]["status"]
    );
}
