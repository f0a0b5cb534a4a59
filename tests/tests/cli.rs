//! The real `autorestart` CLI end to end: against moto (EC2, ELB, CloudWatch alarms, a
//! CloudFormation stack with the deployment's outputs) and a Lambda API in front of the real
//! `drill` and `alarm-handler` binaries. `status` reads the fleet with the sweeper's settings;
//! `drill`, `failover` and `failback` invoke the functions and print their reports; `cleanup`
//! waits for the stack to go, then removes what it left.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use aws_sdk_cloudformation::types::Parameter;
use aws_sdk_ec2::types::Filter;
use e2e::function::{Function, binary_path};
use e2e::lambda_api::LambdaApi;
use e2e::moto::Moto;
use e2e::runtime_api::RuntimeApi;
use e2e::world::{self, Clients, FAILED_OUTPOST, OUTPOST_B, Seeded, State};
use serde_json::{Value, json};

const STACK: &str = "outposts-autorestart";

/// Runs the CLI with dummy credentials, AWS at moto and Lambda at `lambda`; stdin is not a
/// terminal.
fn cli(moto: &Moto, lambda: Option<&LambdaApi>, args: &[&str]) -> Output {
    let mut command = Command::new(binary_path("autorestart"));
    command
        .args(args)
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .stdin(Stdio::null());
    if let Some(lambda) = lambda {
        command.env("AWS_ENDPOINT_URL_LAMBDA", lambda.endpoint());
    }
    command.output().expect("run autorestart")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Stdout as JSON, after a successful run.
fn ok_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

/// Asserts a refusal (exit 2) whose message says `says`.
fn refused(output: &Output, says: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
}

/// The stack as `sam deploy` leaves it, as far as the CLI reads it: its function outputs.
async fn create_stack(c: &Clients, name: &str) {
    let template = json!({
        "Parameters": {"OutpostIds": {"Type": "String"}},
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "AlarmHandlerFunctionName": {"Value": "stack-AlarmHandlerFunction-1"},
            "SweeperFunctionName": {"Value": "stack-SweeperFunction-1"},
            "DrillFunctionName": {"Value": "stack-DrillFunction-1"},
        }
    });
    c.cloudformation
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .parameters(
            Parameter::builder()
                .parameter_key("OutpostIds")
                .parameter_value(FAILED_OUTPOST)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

struct Deployed {
    moto: Moto,
    clients: Clients,
    seeded: Seeded,
    lambda: LambdaApi,
    functions: Vec<Function>,
}

/// A seeded world with the failed Outpost in ALARM, the stack, and its functions behind the
/// Lambda API (the sweeper's configuration only: `status` reads it, nothing invokes it).
async fn deployed() -> Deployed {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    world::failed_outpost_in(&clients, "ALARM").await;
    create_stack(&clients, STACK).await;
    let lambda = LambdaApi::start();
    let env = world::sweep_env(&seeded);
    lambda.add(
        "stack-SweeperFunction-1",
        Arc::new(RuntimeApi::start()),
        &env,
    );
    let mut functions = Vec::new();
    for (binary, name) in [
        ("drill", "stack-DrillFunction-1"),
        ("alarm-handler", "stack-AlarmHandlerFunction-1"),
    ] {
        let api = Arc::new(RuntimeApi::start());
        functions.push(Function::start(
            binary,
            api.address(),
            moto.endpoint(),
            &env,
        ));
        lambda.add(name, api, &env);
    }
    Deployed {
        moto,
        clients,
        seeded,
        lambda,
        functions,
    }
}

fn row<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_id"] == id)
        .unwrap_or_else(|| panic!("{id} in {status}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn status_drill_failover_and_failback_through_the_deployed_functions() {
    let d = deployed().await;
    let (moto, lambda, seeded) = (&d.moto, Some(&d.lambda), &d.seeded);

    // status, for people and for scripts.
    let table = cli(moto, lambda, &["status"]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    assert!(
        table.contains(&format!("Outpost {FAILED_OUTPOST}: alarm ALARM since")),
        "{table}"
    );
    assert!(
        table.contains(&format!("{} (web-1): running", seeded.web1)),
        "{table}"
    );
    let status = ok_json(&cli(moto, lambda, &["status", "--json"]));
    assert_eq!(status["outposts"].as_array().unwrap().len(), 3, "{status}");
    for id in [&seeded.web1, &seeded.web2, &seeded.web3] {
        assert_eq!(row(&status, id)["strategy"], "template");
    }
    assert_eq!(
        row(&status, &seeded.web1)["alternates"],
        json!([seeded.templates["lt-a"], seeded.templates["lt-b"]])
    );
    assert!(
        !status["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["instance_id"] == seeded.db1.as_str()),
        "db-1 is not opted in"
    );
    assert_eq!(
        row(&status, &seeded.web3)["ready"],
        true,
        "web-3's Outpost is up: judged, and lt-c is on Outpost C"
    );
    let only_b = ok_json(&cli(
        moto,
        lambda,
        &["status", "--json", "--outpost", OUTPOST_B],
    ));
    assert_eq!(only_b["instances"].as_array().unwrap().len(), 1, "{only_b}");
    assert_eq!(only_b["instances"][0]["instance_id"], seeded.web3.as_str());

    // Bad input and a missing stack are refused, saying what to pass.
    refused(
        &cli(moto, lambda, &["drill", "--outpost", "op-123"]),
        "not an Outpost id",
    );
    refused(
        &cli(moto, lambda, &["status", "--stack", "nope"]),
        "no stack named nope in us-east-1",
    );

    // A dry-run drill: the drill function's plan, printed.
    let drill = cli(moto, lambda, &["drill", "--outpost", FAILED_OUTPOST]);
    let report = ok_json(&drill);
    assert_eq!(report["live"], false);
    assert_eq!(report["plan"].as_array().unwrap().len(), 2, "{report}");
    assert!(
        text(&drill.stderr).contains(&format!("dry-run drill drill-{FAILED_OUTPOST}")),
        "{}",
        text(&drill.stderr)
    );

    // The function's refusal is the CLI's (exit 2): a failover of an Outpost that is up.
    refused(
        &cli(moto, lambda, &["failover", "--outpost", OUTPOST_B, "--yes"]),
        "refused",
    );

    // A failover asks first; without a terminal, --yes is needed and nothing happens.
    refused(
        &cli(moto, lambda, &["failover", "--outpost", FAILED_OUTPOST]),
        "Pass --yes",
    );
    let before = State::read(&d.clients, seeded).await;
    assert!(before.replacements_of(&seeded.web1).is_empty());
    let failover = cli(
        moto,
        lambda,
        &["failover", "--outpost", FAILED_OUTPOST, "--yes"],
    );
    let report = ok_json(&failover);
    assert_eq!(report["instances"].as_array().unwrap().len(), 2, "{report}");
    assert!(
        text(&failover.stderr).contains(&format!("failover of {FAILED_OUTPOST}: 2 instance(s)")),
        "{}",
        text(&failover.stderr)
    );
    let after = State::read(&d.clients, seeded).await;
    let replacement = &after.replacements_of(&seeded.web1)[0].id;

    // status now shows the chain, proven by its ClientToken, and the open incident.
    let status = ok_json(&cli(moto, lambda, &["status", "--json"]));
    let web1 = row(&status, &seeded.web1);
    assert_eq!(
        web1["chain"][0]["instance_id"],
        replacement.as_str(),
        "{web1}"
    );
    assert_eq!(web1["chain"][0]["proven"], true, "{web1}");
    assert!(web1["incident"].is_string(), "{web1}");

    // A failback dry run while the Outpost is still down: every pair blocked, exit 0.
    let failback = cli(moto, lambda, &["failback", "--outpost", FAILED_OUTPOST]);
    let report = ok_json(&failback);
    assert_eq!(report["dry_run"], true, "{report}");
    let statuses: Vec<&str> = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == "blocked"),
        "{report}"
    );
    assert!(
        text(&failback.stderr).contains(&format!("failback dry run of {FAILED_OUTPOST}")),
        "{}",
        text(&failback.stderr)
    );
    // A live failback asks first.
    refused(
        &cli(
            moto,
            lambda,
            &["failback", "--outpost", FAILED_OUTPOST, "--live"],
        ),
        "Pass --yes",
    );

    // Every JSON line the functions logged (tracing's, the reports', the metrics') names the
    // service first, as Powertools users query it.
    for function in &d.functions {
        let logs = function.logs();
        let lines: Vec<&str> = logs.lines().filter(|l| l.starts_with('{')).collect();
        assert!(lines.len() > 2, "{logs}");
        for line in lines {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(value["service"], "outposts-autorestart", "{line}");
        }
    }
}

async fn our_tags(c: &Clients) -> Vec<(String, String)> {
    let described = c
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag-key")
                .values("autorestart:*")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .flat_map(|i| {
            i.tags()
                .iter()
                .filter(|t| t.key().unwrap_or_default().starts_with("autorestart:"))
                .map(|t| {
                    (
                        i.instance_id().unwrap().to_owned(),
                        t.key().unwrap().to_owned(),
                    )
                })
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_waits_for_the_stack_to_go_then_removes_what_it_left() {
    let moto = Moto::start();
    let c = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&c).await;
    // Deployed under another name than the default: cleanup finds it all the same.
    create_stack(&c, "prod-autorestart").await;
    // The seeded templates are tagged autorestart:template-for, as `autorestart template`
    // tags those it makes; a hand-written one is not.
    let made = &seeded.templates["lt-c"];
    let hand_written = c
        .ec2
        .create_launch_template()
        .launch_template_name("hand-written")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(&seeded.image_id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template()
        .unwrap()
        .launch_template_id()
        .unwrap()
        .to_owned();
    c.elb
        .add_tags()
        .resource_arns(&seeded.target_group)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("autorestart:drill-target-group")
                .value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let tagged = our_tags(&c).await;
    assert!(
        tagged.contains(&(seeded.web1.clone(), "autorestart:enabled".into())),
        "{tagged:?}"
    );

    // While the stack exists its functions act on these tags: refused, but a dry run lists.
    refused(
        &cli(&moto, None, &["cleanup", "--yes"]),
        "stack(s) prod-autorestart of outposts-autorestart still exist in us-east-1",
    );
    let listed = cli(&moto, None, &["cleanup", "--dry-run"]);
    let plan = ok_json(&listed);
    assert_eq!(plan["removed"], false);
    assert!(
        text(&listed.stderr).contains(&format!("launch template {made}: delete")),
        "{}",
        text(&listed.stderr)
    );
    assert_eq!(our_tags(&c).await, tagged, "a dry run removes nothing");

    c.cloudformation
        .delete_stack()
        .stack_name("prod-autorestart")
        .send()
        .await
        .unwrap();
    refused(&cli(&moto, None, &["cleanup"]), "Pass --yes");
    assert_eq!(our_tags(&c).await, tagged, "not confirmed: nothing removed");

    let done = ok_json(&cli(&moto, None, &["cleanup", "--yes"]));
    assert_eq!(done["removed"], true);
    assert!(our_tags(&c).await.is_empty(), "{:?}", our_tags(&c).await);
    let templates = c.ec2.describe_launch_templates().send().await.unwrap();
    let left: Vec<&str> = templates
        .launch_templates()
        .iter()
        .filter_map(|t| t.launch_template_id())
        .collect();
    assert_eq!(
        left,
        vec![hand_written.as_str()],
        "a template it did not make stays"
    );
    let group_tags = c
        .elb
        .describe_tags()
        .resource_arns(&seeded.target_group)
        .send()
        .await
        .unwrap();
    assert!(
        group_tags.tag_descriptions()[0]
            .tags()
            .iter()
            .all(|t| !t.key().unwrap_or_default().starts_with("autorestart:")),
        "{group_tags:?}"
    );
    let web1 = State::read(&c, &seeded).await;
    assert_eq!(
        web1.instance(&seeded.web1)
            .tags
            .get("Name")
            .map(String::as_str),
        Some("web-1"),
        "other tags stay"
    );

    let again = cli(&moto, None, &["cleanup", "--yes"]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("nothing of outposts-autorestart is left"),
        "{}",
        text(&again.stderr)
    );
}
