#!/usr/bin/env python3
"""Self-check for launcher.py: start it, exercise the patched gaps, stop it.

Usage: /work/.venv-tools/bin/python check_launcher.py   (exit 0 = all good)
"""

import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)

import boto3  # noqa: E402
import cbor2  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

LAUNCHER = Path(__file__).with_name("launcher.py")
OUTPOST_ARN = "arn:aws:outposts:us-east-1:123456789012:outpost/op-0123456789abcdef0"
# CloudWatch checks run in another region than the default, so the region
# must come from the request's credential scope.
CW_REGION = "eu-west-1"
CW_OUTPOST_ID = "op-0a1b2c3d4e5f60718"
CW_ALARM = f"outposts-autorestart-{CW_OUTPOST_ID}"
CW_ALARM_ARN = f"arn:aws:cloudwatch:{CW_REGION}:123456789012:alarm:{CW_ALARM}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_launcher():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    expected = f"moto ready on http://127.0.0.1:{port}"
    assert line == expected, f"unexpected first line {line!r} (want {expected!r})"
    return proc, f"http://127.0.0.1:{port}"


def reset(endpoint: str) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200, resp.status


def setup_network(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    vpc_subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a"
    )["Subnet"]
    outpost_subnet = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.0.2.0/24",
        AvailabilityZone="us-east-1a",
        OutpostArn=OUTPOST_ARN,
    )["Subnet"]
    return vpc, vpc_subnet, outpost_subnet


def check_subnets(ec2, vpc_subnet, outpost_subnet):
    # 1. OutpostArn kept and returned.
    assert outpost_subnet.get("OutpostArn") == OUTPOST_ARN, outpost_subnet
    assert "OutpostArn" not in vpc_subnet, vpc_subnet
    got = ec2.describe_subnets(SubnetIds=[outpost_subnet["SubnetId"]])["Subnets"]
    assert got[0].get("OutpostArn") == OUTPOST_ARN, got

    # 2. outpost-arn filter.
    got = ec2.describe_subnets(Filters=[{"Name": "outpost-arn", "Values": [OUTPOST_ARN]}])
    assert [s["SubnetId"] for s in got["Subnets"]] == [outpost_subnet["SubnetId"]], got
    got = ec2.describe_subnets(
        Filters=[{"Name": "outpost-arn", "Values": ["arn:aws:outposts:us-east-1:1:outpost/op-other"]}]
    )
    assert got["Subnets"] == [], got
    print("ok 1-2: subnet OutpostArn + outpost-arn filter")


def check_lni(ec2, outpost_subnet):
    # 8. EnableLniAtDeviceIndex kept and returned; absent until set.
    subnet_id = outpost_subnet["SubnetId"]
    assert "EnableLniAtDeviceIndex" not in outpost_subnet, outpost_subnet
    ec2.modify_subnet_attribute(SubnetId=subnet_id, EnableLniAtDeviceIndex=1)
    got = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    assert got.get("EnableLniAtDeviceIndex") == 1, got
    # Other attributes still go through moto's own handler.
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    got = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    assert got["MapPublicIpOnLaunch"] is True and got["EnableLniAtDeviceIndex"] == 1, got
    print("ok 8: subnet EnableLniAtDeviceIndex")


def check_outposts_denied(endpoint):
    # 7. The Outposts API answers AccessDeniedException at once.
    outposts = boto3.client("outposts", region_name="us-east-1", endpoint_url=endpoint)
    try:
        outposts.list_assets(OutpostIdentifier=CW_OUTPOST_ID)
        raise AssertionError("ListAssets answered without the emulated denial")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "AccessDeniedException", err.response
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403, err.response
    print("ok 7: Outposts API denied")


def check_drs(endpoint):
    # 10. DRS from the state a test sets, over the real wire protocol.
    drs = boto3.client(
        "drs",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 1}),
    )
    status, _ = launcher_api(endpoint, "POST", "/_launcher/drs", {"error": "UninitializedAccountException"})
    assert status == 200
    try:
        drs.describe_source_servers(filters={})
        raise AssertionError("DescribeSourceServers answered without the emulated error")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "UninitializedAccountException", err.response
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403, err.response
    state = {
        "source_servers": [{"id": "s-1234567890abcdef0", "hostname": "db-1", "instance_id": "i-0000000000000000a"}],
        "jobs": [{"id": "drsjob-00000000000000001", "status": "COMPLETED", "servers": {"s-1234567890abcdef0": "LAUNCHED"}}],
        "recovery_instances": [{"server": "s-1234567890abcdef0", "job": "drsjob-00000000000000001", "instance_id": "i-0000000000000000b"}],
        "job_logs": {"drsjob-00000000000000001": [{"server": "s-1234567890abcdef0", "event": "LAUNCH_FAILED", "error": "x"}]},
    }
    status, _ = launcher_api(endpoint, "POST", "/_launcher/drs", state)
    assert status == 200
    servers = drs.describe_source_servers(filters={})["items"]
    assert servers[0]["sourceProperties"]["identificationHints"]["awsInstanceID"] == "i-0000000000000000a", servers
    assert servers[0]["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS", servers
    jobs = drs.describe_jobs(filters={"jobIDs": ["drsjob-00000000000000001"]})["items"]
    assert jobs[0]["participatingServers"][0]["launchStatus"] == "LAUNCHED", jobs
    recovery = drs.describe_recovery_instances(filters={"sourceServerIDs": ["s-1234567890abcdef0"]})["items"]
    assert recovery[0]["ec2InstanceID"] == "i-0000000000000000b" and recovery[0]["jobID"] == "drsjob-00000000000000001", recovery
    log = drs.describe_job_log_items(jobID="drsjob-00000000000000001")["items"]
    assert log[0]["eventData"]["rawError"] == "x", log
    drs.update_launch_configuration(sourceServerID="s-1234567890abcdef0", copyTags=False)
    drs.update_launch_configuration(
        sourceServerID="s-1234567890abcdef0", launchIntoInstanceProperties={"launchIntoEC2InstanceID": "i-0000000000000000c"}
    )
    config = drs.get_launch_configuration(sourceServerID="s-1234567890abcdef0")
    assert config["copyTags"] is False, config
    assert config["launchIntoInstanceProperties"]["launchIntoEC2InstanceID"] == "i-0000000000000000c", config
    started = drs.start_recovery(sourceServers=[{"sourceServerID": "s-1234567890abcdef0"}], isDrill=False)["job"]
    assert started["status"] == "STARTED" and started["initiatedBy"] == "START_RECOVERY", started
    _, after = launcher_api(endpoint, "GET", "/_launcher/drs")
    assert [j["id"] for j in after["jobs"]] == ["drsjob-00000000000000001", started["jobID"]], after
    assert after["jobs"][1]["from_snapshots"] == {"s-1234567890abcdef0": None}, after
    # A stalled server: its snapshots, newest first when asked; StartRecovery from one.
    state["source_servers"][0].update(
        state="STALLED",
        lag="PT1H",
        snapshots=[
            {"id": "pit-00000000000000001", "timestamp": "2026-11-24T01:00:00Z"},
            {"id": "pit-00000000000000002", "timestamp": "2026-11-24T02:00:00Z"},
        ],
    )
    launcher_api(endpoint, "POST", "/_launcher/drs", state)
    server = drs.describe_source_servers(filters={})["items"][0]["dataReplicationInfo"]
    assert (server["dataReplicationState"], server["lagDuration"]) == ("STALLED", "PT1H"), server
    newest = drs.describe_recovery_snapshots(
        sourceServerID="s-1234567890abcdef0", order="DESC", maxResults=1
    )["items"]
    assert [s["snapshotID"] for s in newest] == ["pit-00000000000000002"], newest
    tagged = drs.start_recovery(
        sourceServers=[{"sourceServerID": "s-1234567890abcdef0", "recoverySnapshotID": "pit-00000000000000002"}],
        tags={"autorestart:incident": "op-1"},
    )["job"]
    assert tagged["tags"] == {"autorestart:incident": "op-1"}, tagged
    listed = drs.describe_jobs(filters={"jobIDs": [tagged["jobID"]]})["items"]
    assert listed[0]["tags"] == {"autorestart:incident": "op-1"}, listed
    _, after = launcher_api(endpoint, "GET", "/_launcher/drs")
    assert after["jobs"][-1]["from_snapshots"] == {"s-1234567890abcdef0": "pit-00000000000000002"}, after
    reset(endpoint)
    _, empty = launcher_api(endpoint, "GET", "/_launcher/drs")
    assert empty["jobs"] == [] and empty["error"] is None, empty
    print("ok 10: DRS stub")


def check_client_token(ec2, vpc_subnet):
    # 3. Idempotent RunInstances + client-token filter.
    args = dict(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=vpc_subnet["SubnetId"])
    first = ec2.run_instances(ClientToken="token-a", **args)
    second = ec2.run_instances(ClientToken="token-a", **args)
    ids1 = [i["InstanceId"] for i in first["Instances"]]
    ids2 = [i["InstanceId"] for i in second["Instances"]]
    assert ids1 == ids2 and len(ids1) == 1, (ids1, ids2)
    assert first["ReservationId"] == second["ReservationId"]
    other = ec2.run_instances(ClientToken="token-b", **args)
    assert other["Instances"][0]["InstanceId"] not in ids1

    def by_token(token):
        res = ec2.describe_instances(Filters=[{"Name": "client-token", "Values": [token]}])
        return sorted(i["InstanceId"] for r in res["Reservations"] for i in r["Instances"])

    assert by_token("token-a") == ids1, by_token("token-a")
    assert by_token("token-b") == [other["Instances"][0]["InstanceId"]]
    assert by_token("token-none") == []
    all_ids = [
        i["InstanceId"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    ]
    assert len(all_ids) == 2, all_ids
    print("ok 3: ClientToken idempotency + client-token filter")


def check_launch_template(ec2, vpc, vpc_subnet, outpost_subnet):
    # 4. NetworkInterfaces from the launch template (DeviceIndex 1 listed first
    # on purpose), plus 5. OutpostArn on the instance.
    sg = ec2.create_security_group(GroupName="lt-sg", Description="d", VpcId=vpc)["GroupId"]
    lt = ec2.create_launch_template(
        LaunchTemplateName="outposts-server",
        LaunchTemplateData={
            "ImageId": "ami-12345678",
            "InstanceType": "c6id.8xlarge",
            "NetworkInterfaces": [
                {"DeviceIndex": 1, "SubnetId": outpost_subnet["SubnetId"]},
                {"DeviceIndex": 0, "SubnetId": vpc_subnet["SubnetId"], "Groups": [sg]},
            ],
        },
    )["LaunchTemplate"]
    run = ec2.run_instances(
        MinCount=1,
        MaxCount=1,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
    )
    inst_id = run["Instances"][0]["InstanceId"]
    inst = ec2.describe_instances(InstanceIds=[inst_id])["Reservations"][0]["Instances"][0]
    assert inst["SubnetId"] == vpc_subnet["SubnetId"], inst["SubnetId"]
    assert inst["VpcId"] == vpc, inst.get("VpcId")
    assert inst["InstanceType"] == "c6id.8xlarge"
    assert inst["PrivateIpAddress"].startswith("10.0.1."), inst["PrivateIpAddress"]
    enis = {n["Attachment"]["DeviceIndex"]: n for n in inst["NetworkInterfaces"]}
    assert sorted(enis) == [0, 1], enis
    assert enis[0]["SubnetId"] == vpc_subnet["SubnetId"]
    assert enis[0]["PrivateIpAddress"] == inst["PrivateIpAddress"]
    assert enis[1]["SubnetId"] == outpost_subnet["SubnetId"]
    assert enis[1]["PrivateIpAddress"].startswith("10.0.2."), enis[1]
    assert sg in [g["GroupId"] for g in enis[0]["Groups"]], enis[0]["Groups"]
    assert "OutpostArn" not in inst, inst.get("OutpostArn")  # primary subnet is not on the outpost

    # Explicit SubnetId wins over the template's DeviceIndex 0 subnet; the
    # instance then sits in the outpost subnet and reports its OutpostArn (5).
    run = ec2.run_instances(
        MinCount=1,
        MaxCount=1,
        SubnetId=outpost_subnet["SubnetId"],
        LaunchTemplate={"LaunchTemplateName": "outposts-server"},
    )
    inst = run["Instances"][0]
    assert inst["SubnetId"] == outpost_subnet["SubnetId"], inst["SubnetId"]
    assert inst["PrivateIpAddress"].startswith("10.0.2."), inst["PrivateIpAddress"]
    assert inst.get("OutpostArn") == OUTPOST_ARN, inst.get("OutpostArn")
    assert sorted(n["Attachment"]["DeviceIndex"] for n in inst["NetworkInterfaces"]) == [0, 1]

    # Explicit NetworkInterfaces win outright.
    run = ec2.run_instances(
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": outpost_subnet["SubnetId"]}],
        LaunchTemplate={"LaunchTemplateName": "outposts-server"},
    )
    inst = run["Instances"][0]
    assert inst["SubnetId"] == outpost_subnet["SubnetId"]
    assert [n["Attachment"]["DeviceIndex"] for n in inst["NetworkInterfaces"]] == [0]
    # What EC2 itself records of a template launch, and that nobody can forge it (8b).
    run = ec2.run_instances(
        MinCount=1,
        MaxCount=1,
        ClientToken="template-token",
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
    )
    inst_id = run["Instances"][0]["InstanceId"]
    inst = ec2.describe_instances(InstanceIds=[inst_id])["Reservations"][0]["Instances"][0]
    assert inst["ClientToken"] == "template-token", inst.get("ClientToken")
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["aws:ec2launchtemplate:id"] == lt["LaunchTemplateId"], tags
    code, message, status = error_of(
        ec2.create_tags,
        Resources=[inst_id],
        Tags=[{"Key": "x", "Value": "1"}, {"Key": "aws:ec2launchtemplate:id", "Value": "lt-0"}],
    )
    assert (code, status) == ("InvalidParameterValue", 400), (code, message)
    assert "reserved" in message, message
    ec2.create_tags(Resources=[inst_id], Tags=[{"Key": "autorestart:x", "Value": "aws:ok"}])
    print("ok 4-5, 8b: launch template NetworkInterfaces + instance OutpostArn + aws: tags")


def cloudwatch_cbor(endpoint, operation, params=None):
    """One CloudWatch call over Smithy RPC v2 CBOR, framed like aws-sdk-cloudwatch.

    Returns (HTTP status, response headers, decoded body or None if empty).
    """
    body = b"" if params is None else cbor2.dumps(params)
    headers = {
        "smithy-protocol": "rpc-v2-cbor",
        "Accept": "application/cbor",
        # moto checks no signature; it reads the region from the credential scope.
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/"
        f"{CW_REGION}/monitoring/aws4_request, SignedHeaders=host, Signature=00",
    }
    if body:
        headers["Content-Type"] = "application/cbor"
    req = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=body,
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(req) as resp:
            status, resp_headers, data = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, resp_headers, data = err.code, err.headers, err.read()
    assert resp_headers["smithy-protocol"] == "rpc-v2-cbor", (operation, dict(resp_headers))
    if data:
        assert resp_headers["Content-Type"] == "application/cbor", dict(resp_headers)
    else:
        assert "Content-Type" not in resp_headers, dict(resp_headers)
    return status, resp_headers, cbor2.loads(data) if data else None


def cw_ok(endpoint, operation, params=None):
    status, _, output = cloudwatch_cbor(endpoint, operation, params)
    assert status == 200, (operation, status, output)
    return output


def cw_error(endpoint, operation, params, status, error_type, query_code=None):
    """Asserts an error response: status, `__type`, x-amzn-query-error; returns the body."""
    got_status, headers, output = cloudwatch_cbor(endpoint, operation, params)
    assert got_status == status, (operation, got_status, output)
    assert output["__type"] == error_type, output
    assert output["message"], output
    if query_code is not None:
        assert headers["x-amzn-query-error"] == f"{query_code};Sender", dict(headers)
    return output


def alarm_tags(endpoint, arn):
    out = cw_ok(endpoint, "ListTagsForResource", {"ResourceARN": arn})
    return sorted((t["Key"], t["Value"]) for t in out["Tags"])


def describe_alarm(endpoint, name):
    alarms = cw_ok(endpoint, "DescribeAlarms", {"AlarmNames": [name]})["MetricAlarms"]
    assert len(alarms) == 1, alarms
    return alarms[0]


METRICS = [  # metric math on an outpost's ConnectedStatus
    {
        "Id": "connected",
        "AccountId": "123456789012",
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Outposts",
                "MetricName": "ConnectedStatus",
                "Dimensions": [{"Name": "OutpostId", "Value": CW_OUTPOST_ID}],
            },
            "Period": 60,
            "Stat": "Minimum",
        },
    },
    {"Id": "disconnected", "Expression": "FILL(connected, 0)", "ReturnData": True},
]
OUTPOST_ALARM = {
    "AlarmName": CW_ALARM,
    "Metrics": METRICS,
    "EvaluationPeriods": 3,
    "Threshold": 1.0,
    "ComparisonOperator": "LessThanThreshold",
}
PLAIN_ALARM = {
    "AlarmName": "ec2-cpu",
    "Namespace": "AWS/EC2",
    "MetricName": "CPUUtilization",
    "Dimensions": [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
    "Statistic": "Average",
    "Period": 300,
    "EvaluationPeriods": 1,
    "Threshold": 90.0,
    "ComparisonOperator": "GreaterThanThreshold",
}


def check_cloudwatch_alarms(endpoint):
    # 6a/6d. Both alarm forms stored as sent; new alarms start in
    # INSUFFICIENT_DATA; timestamps are CBOR tag 1 (decoded as datetimes).
    tags = [{"Key": "managed-by", "Value": "outposts-autorestart"}]
    out = cw_ok(endpoint, "PutMetricAlarm", {**OUTPOST_ALARM, "Tags": tags})
    assert out is None, out  # no output: empty body
    cw_ok(endpoint, "PutMetricAlarm", PLAIN_ALARM)

    out = cw_ok(endpoint, "DescribeAlarms", {"AlarmNamePrefix": "outposts-autorestart-"})
    assert out["CompositeAlarms"] == [] and "NextToken" not in out, out
    assert [a["AlarmName"] for a in out["MetricAlarms"]] == [CW_ALARM], out
    alarm = out["MetricAlarms"][0]
    assert alarm["AlarmArn"] == CW_ALARM_ARN, alarm["AlarmArn"]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA", alarm
    assert alarm["Metrics"] == METRICS, alarm["Metrics"]
    assert alarm["EvaluationPeriods"] == 3, alarm
    assert alarm["Threshold"] == 1.0 and isinstance(alarm["Threshold"], float), alarm
    assert alarm["ComparisonOperator"] == "LessThanThreshold", alarm
    assert "Namespace" not in alarm and "MetricName" not in alarm, alarm
    for key in ("StateUpdatedTimestamp", "StateTransitionedTimestamp"):
        assert isinstance(alarm[key], datetime) and alarm[key].tzinfo, (key, alarm[key])

    plain = describe_alarm(endpoint, "ec2-cpu")
    for key in ("Namespace", "MetricName", "Dimensions", "Period", "Threshold"):
        assert plain[key] == PLAIN_ALARM[key], (key, plain)
    assert plain["StateValue"] == "INSUFFICIENT_DATA" and not plain.get("Metrics"), plain


def check_cloudwatch_state(endpoint):
    # 6a. SetAlarmState moves StateTransitionedTimestamp on a change of state
    # only; PutMetricAlarm on an existing alarm keeps the state.
    created = describe_alarm(endpoint, CW_ALARM)["StateTransitionedTimestamp"]
    params = {"AlarmName": CW_ALARM, "StateValue": "ALARM", "StateReason": "disconnected"}
    assert cw_ok(endpoint, "SetAlarmState", params) is None
    alarm = describe_alarm(endpoint, CW_ALARM)
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "disconnected"), alarm
    transitioned = alarm["StateTransitionedTimestamp"]
    assert transitioned > created, (transitioned, created)

    cw_ok(endpoint, "SetAlarmState", {**params, "StateReason": "still disconnected"})
    cw_ok(endpoint, "PutMetricAlarm", {**OUTPOST_ALARM, "EvaluationPeriods": 5})
    alarm = describe_alarm(endpoint, CW_ALARM)
    assert (alarm["StateValue"], alarm["EvaluationPeriods"]) == ("ALARM", 5), alarm
    assert alarm["StateReason"] == "still disconnected", alarm
    assert alarm["StateTransitionedTimestamp"] == transitioned, alarm
    assert alarm["StateUpdatedTimestamp"] > transitioned, alarm


def check_cloudwatch_paging(endpoint):
    # 6b. Filters combine; MaxRecords/NextToken page through the names in order.
    def names(params):
        out = cw_ok(endpoint, "DescribeAlarms", params)
        return [a["AlarmName"] for a in out["MetricAlarms"]], out.get("NextToken")

    assert names({"StateValue": "ALARM"}) == ([CW_ALARM], None)
    assert names({"StateValue": "ALARM", "AlarmNamePrefix": "ec2-"}) == ([], None)
    page, token = names({"MaxRecords": 1})
    assert page == ["ec2-cpu"] and token, (page, token)
    assert names({"MaxRecords": 1, "NextToken": token}) == ([CW_ALARM], None)


def check_cloudwatch_tags(endpoint):
    # 6c. Tags from PutMetricAlarm, TagResource, UntagResource.
    def tags():
        return alarm_tags(endpoint, CW_ALARM_ARN)

    assert tags() == [("managed-by", "outposts-autorestart")], tags()
    added = {"ResourceARN": CW_ALARM_ARN, "Tags": [{"Key": "incident", "Value": "1"}]}
    assert cw_ok(endpoint, "TagResource", added) == {}  # empty output: empty map
    assert tags() == [("incident", "1"), ("managed-by", "outposts-autorestart")], tags()
    removed = {"ResourceARN": CW_ALARM_ARN, "TagKeys": ["managed-by"]}
    assert cw_ok(endpoint, "UntagResource", removed) == {}
    assert tags() == [("incident", "1")], tags()
    # An alarm without tags (moto: ResourceNotFoundException on untag).
    plain_arn = describe_alarm(endpoint, "ec2-cpu")["AlarmArn"]
    cw_ok(endpoint, "UntagResource", {"ResourceARN": plain_arn, "TagKeys": ["none"]})
    assert alarm_tags(endpoint, plain_arn) == []


def check_cloudwatch_errors(endpoint):
    # 6e. Errors: shape ids and HTTP status from the model, query-compatible codes.
    unknown_arn = CW_ALARM_ARN + "-missing"
    for operation, params in (
        ("ListTagsForResource", {"ResourceARN": unknown_arn}),
        ("TagResource", {"ResourceARN": unknown_arn, "Tags": [{"Key": "k", "Value": "v"}]}),
        ("UntagResource", {"ResourceARN": unknown_arn, "TagKeys": ["k"]}),
    ):
        cw_error(
            endpoint,
            operation,
            params,
            404,
            "com.amazonaws.cloudwatch#ResourceNotFoundException",
            "ResourceNotFoundException",
        )
    cw_error(
        endpoint,
        "SetAlarmState",
        {"AlarmName": "missing", "StateValue": "OK", "StateReason": "r"},
        404,
        "com.amazonaws.cloudwatch#ResourceNotFound",
        "ResourceNotFound",
    )
    cw_error(
        endpoint,
        "DescribeAlarms",
        {"NextToken": "bogus"},
        400,
        "com.amazonaws.cloudwatch#InvalidNextToken",
        "InvalidNextToken",
    )
    out = cw_error(endpoint, "DescribeAlarmHistory", {}, 400, "UnsupportedOperation")
    assert "DescribeAlarmHistory" in out["message"], out


def check_cloudwatch(endpoint):
    # 6. CloudWatch over rpcv2Cbor, on moto's CloudWatch backend.
    check_cloudwatch_alarms(endpoint)
    check_cloudwatch_state(endpoint)
    check_cloudwatch_paging(endpoint)
    check_cloudwatch_tags(endpoint)
    check_cloudwatch_errors(endpoint)

    # The same moto alarms as moto's own (JSON) CloudWatch endpoint sees, in
    # the credential scope's region only.
    cw = boto3.client("cloudwatch", region_name=CW_REGION, endpoint_url=endpoint)
    alarm = cw.describe_alarms(AlarmNames=[CW_ALARM])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM", alarm
    default_region = boto3.client("cloudwatch", endpoint_url=endpoint)
    assert default_region.describe_alarms()["MetricAlarms"] == []

    # DeleteAlarms drops the alarm and (6c) its tags: a new alarm of the same
    # name starts without them.
    plain_arn = describe_alarm(endpoint, "ec2-cpu")["AlarmArn"]
    cw_ok(endpoint, "TagResource", {"ResourceARN": plain_arn, "Tags": [{"Key": "k", "Value": "v"}]})
    assert cw_ok(endpoint, "DeleteAlarms", {"AlarmNames": ["ec2-cpu"]}) is None
    assert cw_ok(endpoint, "DescribeAlarms", {"AlarmNames": ["ec2-cpu"]})["MetricAlarms"] == []
    cw_error(
        endpoint,
        "ListTagsForResource",
        {"ResourceARN": plain_arn},
        404,
        "com.amazonaws.cloudwatch#ResourceNotFoundException",
    )
    cw_ok(endpoint, "PutMetricAlarm", PLAIN_ALARM)
    assert alarm_tags(endpoint, plain_arn) == []
    print("ok 6: CloudWatch over rpcv2Cbor (alarms, state, paging, tags, errors)")


def check_cloudwatch_reset(endpoint):
    # 6. POST /moto-api/reset clears the alarms served over rpcv2Cbor.
    out = cw_ok(endpoint, "DescribeAlarms")  # no input: empty body
    assert out == {"MetricAlarms": [], "CompositeAlarms": []}, out
    cw_error(endpoint, "ListTagsForResource", {"ResourceARN": CW_ALARM_ARN}, 404,
             "com.amazonaws.cloudwatch#ResourceNotFoundException")


# -- 9. Run-time faults (/_launcher/) --------------------------------------------
DEFAULT_FAULTS = {
    "pending_seconds": 0.0,
    "invisible_seconds": 0.0,
    "initial_health_seconds": 0.0,
    "refuse_non_running_targets": False,
    "refuse_instance_target_az": False,
    "buckets": None,
    "lost_responses": None,
    "hold_after": {},
}
# Errors must reach the checks as the server sent them, not after retries.
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def launcher_api(endpoint, method, path, payload=None):
    """One control API call; returns (HTTP status, decoded JSON body)."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(f"{endpoint}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def configure(endpoint, **config):
    status, out = launcher_api(endpoint, "POST", "/_launcher/config", config)
    assert status == 200, (status, out)
    return out


def launcher_calls(endpoint):
    status, out = launcher_api(endpoint, "GET", "/_launcher/calls")
    assert status == 200, (status, out)
    return out


def settling(endpoint):
    status, out = launcher_api(endpoint, "GET", "/_launcher/settling")
    assert status == 200, (status, out)
    return out["seconds"]


def count_of(endpoint, action):
    return launcher_calls(endpoint)["counts"].get(action, 0)


def raw_query(endpoint, service, params):
    """A signed-looking query-protocol POST; returns (status, body bytes)."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
        f"{service}/aws4_request, SignedHeaders=host, Signature=00",
    }
    body = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(f"{endpoint}/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def error_of(call, *args, **kwargs):
    """Runs a boto3 call that must fail; returns (code, message, HTTP status)."""
    try:
        call(*args, **kwargs)
    except ClientError as err:
        error = err.response["Error"]
        return error["Code"], error["Message"], err.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__} succeeded")


def wait_until(deadline):
    time.sleep(max(0.0, deadline - time.monotonic()))


def within(start, seconds, what):
    """The step that must happen inside a time window did (else the machine
    is too slow for this check's window, which is not a launcher bug)."""
    elapsed = time.monotonic() - start
    assert elapsed < seconds, f"{what}: took {elapsed:.2f}s, window {seconds}s"


def launch(ec2, subnet_id, **kwargs):
    return ec2.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnet_id, **kwargs
    )["Instances"][0]


def described(ec2, **kwargs):
    res = ec2.describe_instances(**kwargs)
    return {i["InstanceId"]: i["State"] for r in res["Reservations"] for i in r["Instances"]}


def target_health(elbv2, tg_arn, instance_id=None):
    kwargs = {"Targets": [{"Id": instance_id}]} if instance_id else {}
    out = elbv2.describe_target_health(TargetGroupArn=tg_arn, **kwargs)
    return {d["Target"]["Id"]: d["TargetHealth"] for d in out["TargetHealthDescriptions"]}


def new_target_group(elbv2, vpc, name, target_type="instance"):
    return elbv2.create_target_group(
        Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType=target_type
    )["TargetGroups"][0]["TargetGroupArn"]


def check_control_api(endpoint):
    # 9. The configuration: defaults, validation, replacement, reset.
    assert launcher_api(endpoint, "GET", "/_launcher/config") == (200, DEFAULT_FAULTS)
    for bad in (
        {"bogus": 1},
        {"pending_seconds": -1},
        {"invisible_seconds": "1"},
        {"refuse_non_running_targets": 1},
        {"buckets": {"RunInstances": [0, 1]}},
        {"buckets": {"Run Instances": [5, 2]}},
        {"buckets": "yes"},
        {"lost_responses": {"rate": 2, "actions": ["RunInstances"]}},
        {"lost_responses": {"rate": 0.5, "actions": []}},
        {"hold_after": {"RunInstances": 0}},
    ):
        status, out = launcher_api(endpoint, "POST", "/_launcher/config", bad)
        assert status == 400 and out["error"], (bad, status, out)
    assert launcher_api(endpoint, "GET", "/_launcher/config") == (200, DEFAULT_FAULTS)

    config = configure(
        endpoint,
        pending_seconds=0.5,
        buckets=True,
        lost_responses={"rate": 0.25, "actions": ["RunInstances"]},
        hold_after={"RunInstances": 3},
    )
    expected = {
        **DEFAULT_FAULTS,
        "pending_seconds": 0.5,
        "buckets": True,
        "lost_responses": {"rate": 0.25, "seed": 0, "actions": ["RunInstances"]},
        "hold_after": {"RunInstances": 3},
    }
    assert config == expected, config
    assert launcher_api(endpoint, "GET", "/_launcher/config") == (200, expected)
    # A POST replaces everything: missing keys are off again.
    assert configure(endpoint, invisible_seconds=1) == {**DEFAULT_FAULTS, "invisible_seconds": 1.0}
    reset(endpoint)
    assert launcher_api(endpoint, "GET", "/_launcher/config") == (200, DEFAULT_FAULTS)
    assert launcher_calls(endpoint) == {"counts": {}, "by_service": {}, "held": []}
    status, out = launcher_api(endpoint, "GET", "/_launcher/nothing")
    assert status == 404 and out["error"], (status, out)
    print("ok 9: control API (config, validation, reset)")


def age(endpoint, payload):
    return launcher_api(endpoint, "POST", "/_launcher/age", payload)


def launch_time_of(ec2, instance_id):
    res = ec2.describe_instances(InstanceIds=[instance_id])
    return res["Reservations"][0]["Instances"][0]["LaunchTime"]


def check_age(endpoint, ec2, subnet_id):
    # 9h. POST /_launcher/age moves the reported LaunchTime only.
    window = 5.0
    configure(endpoint, pending_seconds=window)
    started = time.monotonic()
    first = launch(ec2, subnet_id, ClientToken="aged")
    i = first["InstanceId"]
    before = launch_time_of(ec2, i)
    assert before == first["LaunchTime"], (before, first["LaunchTime"])
    for bad in (
        None,
        [],
        {},
        {"instance_id": i},
        {"seconds": 600},
        {"instance_id": i, "seconds": 0},
        {"instance_id": i, "seconds": -600},
        {"instance_id": i, "seconds": "600"},
        {"instance_id": i, "seconds": True},
        {"instance_id": 7, "seconds": 600},
        {"instance_id": i, "seconds": 600, "bogus": 1},
    ):
        status, out = age(endpoint, bad)
        assert status == 400 and out["error"], (bad, status, out)
    status, out = age(endpoint, {"instance_id": "i-0123456789abcdef0", "seconds": 600})
    assert status == 404 and out["error"], (status, out)
    assert launch_time_of(ec2, i) == before  # nothing moved yet

    status, out = age(endpoint, {"instance_id": i, "seconds": 600})
    assert status == 200 and out["instance_id"] == i, (status, out)
    after = launch_time_of(ec2, i)
    assert before - after == timedelta(seconds=600), (before, after)
    assert datetime.fromisoformat(out["launch_time"]) == after, (out, after)
    # A later ClientToken repeat replays the first answer with the moved LaunchTime.
    again = launch(ec2, subnet_id, ClientToken="aged")
    assert again["InstanceId"] == i and again["LaunchTime"] == after, (again, after)
    assert again["State"]["Name"] == "pending", again["State"]
    # 9a's bookkeeping keeps the real launch: still pending, still settling.
    assert described(ec2, InstanceIds=[i])[i] == {"Code": 0, "Name": "pending"}
    assert 0 < settling(endpoint) <= window, settling(endpoint)
    within(started, window, "age checks")
    # Ageing adds up (LaunchTime is shown to the whole second).
    status, out = age(endpoint, {"instance_id": i, "seconds": 60})
    assert status == 200 and out["launch_time"].endswith(".000Z"), (status, out)
    assert before - launch_time_of(ec2, i) == timedelta(seconds=660)
    configure(endpoint)
    assert described(ec2, InstanceIds=[i])[i] == {"Code": 16, "Name": "running"}
    print("ok 9h: POST /_launcher/age")


def check_faults_off(endpoint, ec2, elbv2, vpc, subnet_id):
    # 9. Everything off by default: moto's behaviour, and call counting.
    assert launcher_api(endpoint, "GET", "/_launcher/config") == (200, DEFAULT_FAULTS)
    before = launcher_calls(endpoint)
    started = time.monotonic()
    ids = [launch(ec2, subnet_id)["InstanceId"] for _ in range(7)]  # > RunInstances' bucket (5)
    ids.append(launch(ec2, subnet_id, ClientToken="faults-off")["InstanceId"])
    repeat = launch(ec2, subnet_id, ClientToken="faults-off")  # a repeat: the first answer
    assert repeat["InstanceId"] == ids[-1] and repeat["State"]["Name"] == "pending", repeat
    states = described(ec2, InstanceIds=ids)  # visible at once
    assert all(states[i] == {"Code": 16, "Name": "running"} for i in ids), states
    tg = new_target_group(elbv2, vpc, "faults-off")
    elbv2.register_targets(
        TargetGroupArn=tg, Targets=[{"Id": ids[0], "AvailabilityZone": "us-east-1a"}]
    )
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ids[1]}])
    health = target_health(elbv2, tg)
    assert {h["State"] for h in health.values()} == {"healthy"} and len(health) == 2, health
    for _ in range(12):
        ec2.describe_vpcs()
    within(started, 2.5, "faults-off calls")  # RunInstances' 5+2/s would have throttled
    calls = launcher_calls(endpoint)
    delta = {
        service: {
            action: n - before["by_service"].get(service, {}).get(action, 0)
            for action, n in actions.items()
            if n != before["by_service"].get(service, {}).get(action, 0)
        }
        for service, actions in calls["by_service"].items()
    }
    assert delta == {
        "ec2": {"DescribeInstances": 1, "DescribeVpcs": 12, "RunInstances": 9},
        "elasticloadbalancing": {
            "CreateTargetGroup": 1,
            "DescribeTargetHealth": 1,
            "RegisterTargets": 2,
        },
    }, delta
    assert calls["counts"]["RunInstances"] == before["counts"].get("RunInstances", 0) + 9
    assert calls["held"] == [], calls
    print("ok 9: faults off by default; calls counted per action")


def check_pending(endpoint, ec2, elbv2, vpc, subnet_id):
    # 9a/9d. pending until pending_seconds after launch; refused as a target.
    window = 0.8
    configure(endpoint, pending_seconds=window, refuse_non_running_targets=True)
    tg = new_target_group(elbv2, vpc, "pending")
    started = time.monotonic()
    first = launch(ec2, subnet_id)
    second = launch(ec2, subnet_id)
    a, b = first["InstanceId"], second["InstanceId"]
    assert first["State"] == {"Code": 0, "Name": "pending"}, first["State"]
    assert described(ec2, InstanceIds=[a])[a] == {"Code": 0, "Name": "pending"}
    assert 0 < settling(endpoint) <= window, settling(endpoint)
    repeat = launch(ec2, subnet_id, ClientToken="pending-c")
    assert launch(ec2, subnet_id, ClientToken="pending-c")["State"]["Name"] == "pending"
    pending = described(ec2, Filters=[{"Name": "instance-state-name", "Values": ["pending"]}])
    running = described(ec2, Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    assert {a, b} <= set(pending) and not {a, b} & set(running), (pending, running)
    code, message, status = error_of(
        elbv2.register_targets, TargetGroupArn=tg, Targets=[{"Id": a}, {"Id": b}]
    )
    assert (code, status) == ("InvalidTarget", 400), (code, status)
    assert message == (
        "The following targets are not in a running state and cannot be registered:"
        f" '{a}, {b}'"
    ), message
    assert target_health(elbv2, tg) == {}  # nothing registered
    # A terminated instance shows its real state inside the window.
    ec2.terminate_instances(InstanceIds=[b])
    assert described(ec2, InstanceIds=[b])[b] == {"Code": 48, "Name": "terminated"}
    within(started, window, "pending checks")

    wait_until(started + window + 0.05)
    time.sleep(settling(endpoint))  # the repeats launched after `a`: as long as it says
    assert settling(endpoint) == 0, settling(endpoint)
    assert described(ec2, InstanceIds=[a])[a] == {"Code": 16, "Name": "running"}
    # A repeat replays the first answer (3): pending, though running now.
    again = launch(ec2, subnet_id, ClientToken="pending-c")
    assert again["InstanceId"] == repeat["InstanceId"] and again["State"]["Name"] == "pending"
    assert described(ec2, InstanceIds=[again["InstanceId"]])[again["InstanceId"]]["Name"] == "running"
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": a}])
    assert target_health(elbv2, tg)[a]["State"] == "healthy"

    # refuse_non_running_targets off: moto registers a pending instance.
    configure(endpoint, pending_seconds=window)
    started = time.monotonic()
    c = launch(ec2, subnet_id)["InstanceId"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": c}])
    assert described(ec2, InstanceIds=[c])[c]["Name"] == "pending"
    within(started, window, "pending registration")
    assert c in target_health(elbv2, tg)
    print("ok 9a/9d: pending_seconds + refuse_non_running_targets")


def check_invisible(endpoint, ec2, subnet_id):
    # 9b. Missing from DescribeInstances for invisible_seconds after launch.
    old = next(iter(described(ec2)))  # the first launched, seconds ago
    window = 0.6
    configure(endpoint, invisible_seconds=window)
    started = time.monotonic()
    new = launch(ec2, subnet_id, ClientToken="invisible-1")
    i = new["InstanceId"]
    assert new["InstanceId"].startswith("i-")  # RunInstances' answer has it
    everything = described(ec2)
    assert old in everything and i not in everything, everything
    assert described(ec2, Filters=[{"Name": "instance-id", "Values": [i]}]) == {}
    assert described(ec2, Filters=[{"Name": "client-token", "Values": ["invisible-1"]}]) == {}
    code, message, status = error_of(ec2.describe_instances, InstanceIds=[old, i])
    assert (code, status) == ("InvalidInstanceID.NotFound", 400), (code, message)
    assert i in message and old not in message, message
    within(started, window, "invisible checks")

    wait_until(started + window + 0.05)
    assert i in described(ec2)
    by_token = described(ec2, Filters=[{"Name": "client-token", "Values": ["invisible-1"]}])
    assert list(by_token) == [i], by_token
    assert set(described(ec2, InstanceIds=[old, i])) == {old, i}
    print("ok 9b: invisible_seconds")


def check_initial_health(endpoint, ec2, elbv2, vpc, subnet_id):
    # 9c. initial for initial_health_seconds after registration, then healthy.
    window = 0.8
    configure(endpoint, initial_health_seconds=window)
    tg = new_target_group(elbv2, vpc, "initial")
    i = launch(ec2, subnet_id)["InstanceId"]
    started = time.monotonic()
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i, "Port": 8080}])
    health = target_health(elbv2, tg)[i]
    assert health == {
        "State": "initial",
        "Reason": "Elb.RegistrationInProgress",
        "Description": "Target registration is in progress",
    }, health
    assert 0 < settling(endpoint) <= window, settling(endpoint)
    within(started, window / 2, "first health check")
    wait_until(started + window * 0.6)
    health = target_health(elbv2, tg, i)[i]
    assert (health["State"], health["Reason"]) == ("initial", "Elb.InitialHealthChecking"), health
    # Registering the same target again does not restart its health checks.
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i, "Port": 8080}])
    within(started, window, "initial checks")
    wait_until(started + window + 0.05)
    assert settling(endpoint) == 0, settling(endpoint)
    assert target_health(elbv2, tg)[i]["State"] == "healthy"
    # Deregistered and registered again: a new registration.
    elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": i, "Port": 8080}])
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i, "Port": 8080}])
    assert target_health(elbv2, tg)[i]["State"] == "initial"
    print("ok 9c: initial_health_seconds")


def check_target_az(endpoint, ec2, elbv2, vpc, subnet_id):
    # 9d. AvailabilityZone on an instance target refused (ip targets keep it).
    configure(endpoint, refuse_instance_target_az=True)
    tg = new_target_group(elbv2, vpc, "az-instance")
    i = launch(ec2, subnet_id)["InstanceId"]
    code, message, status = error_of(
        elbv2.register_targets,
        TargetGroupArn=tg,
        Targets=[{"Id": i}, {"Id": i, "Port": 81, "AvailabilityZone": "us-east-1a"}],
    )
    assert (code, status) == ("ValidationError", 400) and "instance" in message, (code, message)
    assert target_health(elbv2, tg) == {}
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": i}])
    ip_tg = new_target_group(elbv2, vpc, "az-ip", target_type="ip")
    elbv2.register_targets(
        TargetGroupArn=ip_tg, Targets=[{"Id": "10.0.1.10", "AvailabilityZone": "us-east-1a"}]
    )
    print("ok 9d: refuse_instance_target_az")


def check_throttling(endpoint, ec2, elbv2, subnet_id):
    # 9e. Token buckets; RequestLimitExceeded on the wire as EC2 sends it.
    configure(endpoint, buckets={"DescribeVpcs": [2, 5]})
    before = count_of(endpoint, "DescribeVpcs")
    ec2.describe_vpcs()
    ec2.describe_vpcs()
    status, body = raw_query(endpoint, "ec2", {"Action": "DescribeVpcs", "Version": "2016-11-15"})
    assert status == 503, (status, body)
    root = ElementTree.fromstring(body)
    assert root.tag == "Response", body
    assert [e.tag for e in root] == ["Errors", "RequestID"] and root.findtext("RequestID"), body
    assert root.findtext("Errors/Error/Code") == "RequestLimitExceeded", body
    assert root.findtext("Errors/Error/Message") == "Request limit exceeded.", body
    assert error_of(ec2.describe_vpcs) == ("RequestLimitExceeded", "Request limit exceeded.", 503)
    ec2.describe_subnets()  # its own bucket
    elbv2.describe_target_groups()  # ELBv2 is not throttled
    assert count_of(endpoint, "DescribeVpcs") == before + 2  # throttled calls never reached moto
    time.sleep(0.25)  # 5 tokens/s
    ec2.describe_vpcs()

    # Documented defaults: RunInstances 5 then 2/s.
    configure(endpoint, buckets=True)
    started = time.monotonic()
    for _ in range(5):
        launch(ec2, subnet_id)
    assert error_of(launch, ec2, subnet_id)[0] == "RequestLimitExceeded"
    within(started, 0.5, "6 RunInstances")  # else a refilled token could let #6 in
    time.sleep(0.55)
    launch(ec2, subnet_id)

    # Unfiltered/unpaginated DescribeInstances has a bucket of its own.
    configure(endpoint, buckets={"DescribeInstances:unfiltered": [2, 0.01]})
    ec2.describe_instances()
    ec2.describe_instances()
    assert error_of(ec2.describe_instances)[0] == "RequestLimitExceeded"
    assert error_of(ec2.describe_instances, InstanceIds=["i-00000000000000000"])[0] == (
        "RequestLimitExceeded"
    )  # instance ids are no filter
    ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    ec2.describe_instances(MaxResults=5)

    # Resource bucket: drained by the number of instances.
    configure(endpoint, buckets={"RunInstances:resources": [3, 0.01]})
    ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2, SubnetId=subnet_id)
    code = error_of(
        ec2.run_instances, ImageId="ami-12345678", MinCount=2, MaxCount=2, SubnetId=subnet_id
    )[0]
    assert code == "RequestLimitExceeded", code
    launch(ec2, subnet_id)

    # One bucket for every caller, taken atomically by concurrent requests.
    configure(endpoint, buckets={"CreateTags": [5, 0.01]})
    instance_id = launch(ec2, subnet_id)["InstanceId"]

    def tag(n):
        client = boto3.client("ec2", endpoint_url=endpoint, config=NO_RETRY)
        try:
            client.create_tags(Resources=[instance_id], Tags=[{"Key": f"k{n}", "Value": "v"}])
            return "ok"
        except ClientError as err:
            return err.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(tag, range(20)))
    assert sorted(outcomes) == ["RequestLimitExceeded"] * 15 + ["ok"] * 5, outcomes
    print("ok 9e: buckets (EC2 request throttling)")


def check_lost_responses(endpoint, ec2, elbv2, vpc, subnet_id):
    # 9f. The call takes effect, its answer is replaced by a 500.
    configure(
        endpoint,
        lost_responses={"rate": 1.0, "seed": 7, "actions": ["RunInstances", "RegisterTargets"]},
    )
    tg = new_target_group(elbv2, vpc, "lost")
    code, _, status = error_of(launch, ec2, subnet_id, ClientToken="lost-1")
    assert (code, status) == ("InternalError", 500), (code, status)
    took_effect = described(ec2, Filters=[{"Name": "client-token", "Values": ["lost-1"]}])
    assert len(took_effect) == 1, took_effect
    status, body = raw_query(
        endpoint,
        "ec2",
        {"Action": "RunInstances", "Version": "2016-11-15", "ImageId": "ami-12345678",
         "MinCount": "1", "MaxCount": "1", "SubnetId": subnet_id},
    )
    root = ElementTree.fromstring(body)
    assert status == 500 and root.tag == "Response", (status, body)
    assert root.findtext("Errors/Error/Code") == "InternalError", body
    # moto's own errors are not replaced (the call did not take effect).
    assert error_of(launch, ec2, "subnet-00000000")[0] == "InvalidSubnetID.NotFound"

    i = list(took_effect)[0]
    code, _, status = error_of(elbv2.register_targets, TargetGroupArn=tg, Targets=[{"Id": i}])
    assert (code, status) == ("InternalFailure", 500), (code, status)
    assert i in target_health(elbv2, tg)  # registered all the same
    status, body = raw_query(
        endpoint,
        "elasticloadbalancing",
        {"Action": "RegisterTargets", "Version": "2015-12-01", "TargetGroupArn": tg,
         "Targets.member.1.Id": i},
    )
    ns = "{http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/}"
    root = ElementTree.fromstring(body)
    assert status == 500 and root.tag == f"{ns}ErrorResponse", (status, body)
    assert root.findtext(f"{ns}Error/{ns}Type") == "Receiver", body
    assert root.findtext(f"{ns}Error/{ns}Code") == "InternalFailure", body
    assert root.findtext(f"{ns}RequestId"), body
    ec2.create_tags(Resources=[i], Tags=[{"Key": "k", "Value": "v"}])  # not listed

    # The caller's retry with the same ClientToken gets the original (3).
    configure(endpoint)
    assert launch(ec2, subnet_id, ClientToken="lost-1")["InstanceId"] == i

    # Deterministic from the seed: one draw per listed call, in order.
    def outcomes():
        configure(endpoint, lost_responses={"rate": 0.5, "seed": 42, "actions": ["CreateTags"]})
        result = []
        for n in range(16):
            try:
                ec2.create_tags(Resources=[i], Tags=[{"Key": f"d{n}", "Value": "v"}])
                result.append(False)
            except ClientError as err:
                assert err.response["Error"]["Code"] == "InternalError", err.response
                result.append(True)
            ec2.describe_vpcs()  # unlisted calls draw nothing
        return result

    draws = random.Random(42)
    expected = [draws.random() < 0.5 for _ in range(16)]
    first = outcomes()
    assert first == expected and outcomes() == first, (first, expected)
    assert True in first and False in first, first
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [i]}])["Tags"]
    assert {f"d{n}" for n in range(16)} <= {t["Key"] for t in tags}  # lost ones took effect too
    print("ok 9f: lost_responses")


def check_hold(endpoint, ec2, subnet_id):
    # 9g. The nth call takes effect, its answer waits for /_launcher/release.
    configure(endpoint, hold_after={"RunInstances": 2})
    launch(ec2, subnet_id)  # 1st: answered at once
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(launch, ec2, subnet_id, ClientToken="held-2")
        deadline = time.monotonic() + 10
        while launcher_calls(endpoint)["held"] != [{"action": "RunInstances", "n": 2}]:
            assert time.monotonic() < deadline, launcher_calls(endpoint)
            time.sleep(0.02)
        took_effect = described(ec2, Filters=[{"Name": "client-token", "Values": ["held-2"]}])
        assert len(took_effect) == 1, took_effect
        time.sleep(0.2)
        assert not held.done()
        assert launcher_api(endpoint, "POST", "/_launcher/release") == (200, {"released": 1})
        assert held.result(timeout=10)["InstanceId"] == list(took_effect)[0]
    assert launcher_calls(endpoint)["held"] == []
    started = time.monotonic()
    launch(ec2, subnet_id)  # 3rd: not held
    within(started, 5, "3rd RunInstances")
    assert launcher_api(endpoint, "POST", "/_launcher/release") == (200, {"released": 0})

    # POST /moto-api/reset lets held answers go.
    configure(endpoint, hold_after={"DescribeVpcs": 1})
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(ec2.describe_vpcs)
        deadline = time.monotonic() + 10
        while not launcher_calls(endpoint)["held"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        reset(endpoint)
        held.result(timeout=10)
    assert launcher_calls(endpoint)["held"] == []
    print("ok 9g: hold_after + release")


def check_client_token_terminated(ec2, vpc, subnet_id):
    # 3. A reused ClientToken replays the first answer (pending, the original
    # LaunchTime), terminated too; zonal idempotency: the token in another
    # zone launches again.
    first = launch(ec2, subnet_id, ClientToken="token-t")
    i = first["InstanceId"]
    ec2.terminate_instances(InstanceIds=[i])
    count = len(described(ec2))
    again = ec2.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnet_id, ClientToken="token-t"
    )
    assert [x["InstanceId"] for x in again["Instances"]] == [i], again["Instances"]
    assert again["Instances"][0]["State"] == {"Code": 0, "Name": "pending"}, again["Instances"]
    assert again["Instances"][0]["LaunchTime"] == first["LaunchTime"], (again, first)
    assert described(ec2, InstanceIds=[i])[i] == {"Code": 48, "Name": "terminated"}
    assert len(described(ec2)) == count  # nothing launched
    other_zone = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.0.3.0/24", AvailabilityZone="us-east-1b"
    )["Subnet"]["SubnetId"]
    elsewhere = launch(ec2, other_zone, ClientToken="token-t")
    assert elsewhere["InstanceId"] != i, elsewhere["InstanceId"]
    assert elsewhere["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert launch(ec2, other_zone, ClientToken="token-t")["InstanceId"] == elsewhere["InstanceId"]
    # Placement.AvailabilityZone names the zone too.
    placed = ec2.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken="token-t",
        Placement={"AvailabilityZone": "us-east-1a"},
    )["Instances"][0]
    assert placed["InstanceId"] == i, placed["InstanceId"]
    print("ok 3: ClientToken replays the first answer for a terminated original; zonal idempotency")


def check_faults(endpoint):
    # 9 (and 3's terminated original), after the patches' checks; each check
    # starts from the default configuration.
    reset(endpoint)
    check_control_api(endpoint)
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint, config=NO_RETRY)
    elbv2 = boto3.client("elbv2", region_name="us-east-1", endpoint_url=endpoint, config=NO_RETRY)
    vpc, vpc_subnet, _ = setup_network(ec2)
    subnet_id = vpc_subnet["SubnetId"]
    calls = launcher_calls(endpoint)
    assert calls["counts"] == {"CreateVpc": 1, "CreateSubnet": 2}, calls
    check_client_token_terminated(ec2, vpc, subnet_id)
    check_faults_off(endpoint, ec2, elbv2, vpc, subnet_id)
    check_age(endpoint, ec2, subnet_id)
    configure(endpoint)
    check_pending(endpoint, ec2, elbv2, vpc, subnet_id)
    configure(endpoint)
    check_invisible(endpoint, ec2, subnet_id)
    configure(endpoint)
    check_initial_health(endpoint, ec2, elbv2, vpc, subnet_id)
    configure(endpoint)
    check_target_az(endpoint, ec2, elbv2, vpc, subnet_id)
    configure(endpoint)
    check_throttling(endpoint, ec2, elbv2, subnet_id)
    configure(endpoint)
    check_lost_responses(endpoint, ec2, elbv2, vpc, subnet_id)
    configure(endpoint)
    check_hold(endpoint, ec2, subnet_id)  # ends with POST /moto-api/reset


def main() -> int:
    proc, endpoint = start_launcher()
    try:
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
        vpc, vpc_subnet, outpost_subnet = setup_network(ec2)
        check_subnets(ec2, vpc_subnet, outpost_subnet)
        check_client_token(ec2, vpc_subnet)
        check_launch_template(ec2, vpc, vpc_subnet, outpost_subnet)
        check_cloudwatch(endpoint)
        check_outposts_denied(endpoint)
        check_lni(ec2, outpost_subnet)
        check_drs(endpoint)

        # Patches survive a state reset; the old token is forgotten with the state.
        reset(endpoint)
        try:
            ec2.describe_subnets(SubnetIds=[outpost_subnet["SubnetId"]])
            raise AssertionError("subnet survived /moto-api/reset")
        except ClientError as err:
            assert err.response["Error"]["Code"] == "InvalidSubnetID.NotFound", err
        check_cloudwatch_reset(endpoint)
        # EC2 still served by the same server after the rpcv2Cbor traffic.
        vpc, vpc_subnet, outpost_subnet = setup_network(ec2)
        check_subnets(ec2, vpc_subnet, outpost_subnet)
        check_client_token(ec2, vpc_subnet)
        check_launch_template(ec2, vpc, vpc_subnet, outpost_subnet)
        check_cloudwatch(endpoint)
        check_lni(ec2, outpost_subnet)
        print("ok: patches survive POST /moto-api/reset")
        check_faults(endpoint)
    finally:
        proc.terminate()
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, f"launcher exited with {rc} on SIGTERM"
    print("ok: launcher stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
