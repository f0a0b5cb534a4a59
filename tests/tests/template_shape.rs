//! What template.yaml declares for every function and log group, read from the file: the
//! properties the four functions share live once, in Globals; what would make a deploy fail
//! in a small account, or lose the incident history, is a parameter.

use e2e::moto::workspace_root;
use e2e::template::resource;

const FUNCTIONS: [&str; 4] = [
    "AlarmHandlerFunction",
    "DrsEventHandlerFunction",
    "SweeperFunction",
    "DrillFunction",
];
const LOG_GROUPS: [&str; 4] = [
    "AlarmHandlerLogGroup",
    "DrsEventHandlerLogGroup",
    "SweeperLogGroup",
    "DrillLogGroup",
];

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap()
}

/// The Globals section, which comes right before Resources.
fn globals(template: &str) -> String {
    let start = template
        .find("\nGlobals:\n")
        .expect("template.yaml has Globals");
    let end = template
        .find("\nResources:\n")
        .expect("template.yaml has Resources");
    assert!(start < end, "Globals comes before Resources");
    template[start..end].to_owned()
}

#[test]
fn the_functions_share_their_runtime_settings_through_globals_and_repeat_none() {
    let template = template();
    let globals = globals(&template);
    let shared = [
        "CodeUri: .",
        "Handler: bootstrap",
        "Runtime: provided.al2023",
        "- arm64",
        "MemorySize: 128",
        "Timeout: 900",
        "LogFormat: JSON",
        "TOPIC_ARN: !Ref NotificationTopic",
        "MODE: !Ref Mode",
        "METRICS_NAMESPACE: !Ref MetricsNamespace",
    ];
    for line in shared {
        assert!(globals.contains(line), "Globals holds {line:?}:\n{globals}");
    }
    for function in FUNCTIONS {
        let text = resource(&template, function);
        for line in shared {
            assert!(!text.contains(line), "{function} repeats {line:?}");
        }
        // What differs stays with the function.
        assert!(
            text.contains("LogGroup: !Ref"),
            "{function} names its log group"
        );
        assert!(
            text.contains("Role: !GetAtt"),
            "{function} has its own role"
        );
        assert!(text.contains("BuildMethod: rust-cargolambda"), "{function}");
    }
}

#[test]
fn the_sweeper_and_the_drill_reserve_one_execution_unless_the_parameter_is_none() {
    let template = template();
    let parameter = resource(&template, "SweeperReservedConcurrency");
    assert!(
        parameter.contains("AllowedValues: [\"1\", none]"),
        "{parameter}"
    );
    // One sweep at a time, one drill at a time; the handlers scale with the Outposts down.
    for function in ["SweeperFunction", "DrillFunction"] {
        let text = resource(&template, function);
        assert!(
            text.contains(
                "ReservedConcurrentExecutions: !If [ReservesSweeperConcurrency, 1, !Ref AWS::NoValue]"
            ),
            "{text}"
        );
    }
    for function in FUNCTIONS
        .iter()
        .filter(|f| !["SweeperFunction", "DrillFunction"].contains(*f))
    {
        let text = resource(&template, function);
        assert!(
            !text.contains("ReservedConcurrentExecutions"),
            "{function} reserves no concurrency"
        );
    }
}

#[test]
fn every_log_group_is_kept_or_deleted_with_the_stack_as_the_parameter_says() {
    let template = template();
    let parameter = resource(&template, "LogGroupsOnStackDeletion");
    assert!(
        parameter.contains("AllowedValues: [Delete, Retain]"),
        "{parameter}"
    );
    assert!(parameter.contains("Default: Delete"), "{parameter}");
    assert!(template.contains("RetainsLogGroups: !Equals [!Ref LogGroupsOnStackDeletion, Retain]"));
    for group in LOG_GROUPS {
        let text = resource(&template, group);
        assert!(
            text.contains("DeletionPolicy: !If [RetainsLogGroups, Retain, Delete]"),
            "{group}"
        );
        assert!(
            text.contains("UpdateReplacePolicy: !If [RetainsLogGroups, Retain, Delete]"),
            "{group}"
        );
    }
}

#[test]
fn every_log_group_is_encrypted_with_the_optional_key_when_one_is_given() {
    let template = template();
    let parameter = resource(&template, "LogGroupKmsKeyArn");
    assert!(parameter.contains("Default: \"\""), "{parameter}");
    assert!(template.contains("HasLogGroupKmsKey: !Not [!Equals [!Ref LogGroupKmsKeyArn, \"\"]]"));
    for group in LOG_GROUPS {
        let text = resource(&template, group);
        assert!(
            text.contains(
                "KmsKeyId: !If [HasLogGroupKmsKey, !Ref LogGroupKmsKeyArn, !Ref AWS::NoValue]"
            ),
            "{group}"
        );
    }
}

#[test]
fn every_alarm_that_notifies_says_when_it_is_over_and_a_silent_sweeper_alarms() {
    let template = template();
    for alarm in [
        "DeadLetterQueueAlarm",
        "AlarmHandlerErrorsAlarm",
        "DrsEventHandlerErrorsAlarm",
        "SweeperErrorsAlarm",
        "DrillErrorsAlarm",
        "NotReadyAlarm",
        "SweeperHeartbeatAlarm",
    ] {
        let text = resource(&template, alarm);
        assert!(
            text.contains("AlarmActions:\n        - !Ref NotificationTopic")
                && text.contains("OKActions:\n        - !Ref NotificationTopic"),
            "{alarm}: {text}"
        );
    }
    let heartbeat = resource(&template, "SweeperHeartbeatAlarm");
    for part in [
        "MetricName: Invocations",
        "Value: !Ref SweeperFunction",
        "ComparisonOperator: LessThanThreshold",
        "Threshold: 1",
        "TreatMissingData: breaching",
    ] {
        assert!(heartbeat.contains(part), "{part}: {heartbeat}");
    }
}

#[test]
fn the_rules_that_invoke_the_agent_are_stack_outputs_named_as_sam_names_them() {
    let template = template();
    // SAM names an event source's rule <function logical id><event id>.
    for (output, function, event) in [
        (
            "AlarmRuleName",
            "AlarmHandlerFunction",
            "ConnectedStatusChanged",
        ),
        (
            "DrsEventRuleName",
            "DrsEventHandlerFunction",
            "RecoveryLaunchResult",
        ),
        ("SweepRuleName", "SweeperFunction", "Sweep"),
    ] {
        let declared = resource(&template, function);
        assert!(
            declared.contains(&format!("\n        {event}:\n")),
            "{function} has the event {event}"
        );
        let outputs = &template[template.find("\nOutputs:\n").unwrap()..];
        let entry = &outputs[outputs
            .find(&format!("\n  {output}:\n"))
            .unwrap_or_else(|| panic!("output {output}"))..];
        let value = entry.lines().find(|l| l.contains("Value:")).unwrap();
        assert_eq!(value.trim(), format!("Value: !Ref {function}{event}"));
    }
}
