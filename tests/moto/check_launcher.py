#!/usr/bin/env python3
"""Self-check for launcher.py: start it, exercise the patched gaps, stop it.

Usage: /work/.venv-tools/bin/python check_launcher.py   (exit 0 = all good)
"""

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)

import boto3  # noqa: E402
import cbor2  # noqa: E402
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
    print("ok 4-5: launch template NetworkInterfaces + instance OutpostArn")


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
