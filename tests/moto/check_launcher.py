#!/usr/bin/env python3
"""Self-check for launcher.py: start it, exercise the patched EC2 gaps, stop it.

Usage: /work/.venv-tools/bin/python check_launcher.py   (exit 0 = all good)
"""

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

LAUNCHER = Path(__file__).with_name("launcher.py")
OUTPOST_ARN = "arn:aws:outposts:us-east-1:123456789012:outpost/op-0123456789abcdef0"


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


def main() -> int:
    proc, endpoint = start_launcher()
    try:
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
        vpc, vpc_subnet, outpost_subnet = setup_network(ec2)
        check_subnets(ec2, vpc_subnet, outpost_subnet)
        check_client_token(ec2, vpc_subnet)
        check_launch_template(ec2, vpc, vpc_subnet, outpost_subnet)

        # Patches survive a state reset; the old token is forgotten with the state.
        reset(endpoint)
        try:
            ec2.describe_subnets(SubnetIds=[outpost_subnet["SubnetId"]])
            raise AssertionError("subnet survived /moto-api/reset")
        except ClientError as err:
            assert err.response["Error"]["Code"] == "InvalidSubnetID.NotFound", err
        vpc, vpc_subnet, outpost_subnet = setup_network(ec2)
        check_subnets(ec2, vpc_subnet, outpost_subnet)
        check_client_token(ec2, vpc_subnet)
        check_launch_template(ec2, vpc, vpc_subnet, outpost_subnet)
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
