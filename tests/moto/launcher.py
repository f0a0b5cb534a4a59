#!/usr/bin/env python3
"""Start moto's server with a few EC2 gaps filled, for the integration tests.

Usage: python launcher.py --host 127.0.0.1 --port PORT

Written against moto 5.2.1. All patches are applied in this process only
(nothing in site-packages is edited) and live on moto's classes/modules, not
on backend instances, so they survive POST /moto-api/reset.

Gaps filled (numbers match the "-- N." comments in apply_patches):
  1. CreateSubnet keeps OutpostArn; DescribeSubnets returns it.
  2. DescribeSubnets filter `outpost-arn` (moto 500s on it).
  3. RunInstances honours ClientToken (idempotent); DescribeInstances
     filter `client-token` (moto 500s on it).
  4. RunInstances with a LaunchTemplate whose data holds NetworkInterfaces
     uses them (moto ignores them and falls back to a default subnet).
  5. Instances (and ENIs) in a subnet with an OutpostArn report it.

Prints `moto ready on http://HOST:PORT` once the socket is listening and
serves until SIGTERM/SIGINT.
"""

import argparse
import copy
import logging
import os
import signal
import sys
import threading


def apply_patches() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2 import utils as ec2_utils
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.models.instances import Instance, InstanceBackend
    from moto.ec2.models.subnets import Subnet
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.responses.subnets import Subnets

    # -- 1. CreateSubnet OutpostArn -----------------------------------------
    # moto's Subnets.create_subnet (response handler) never reads OutpostArn.
    # Read it here and store it on the Subnet model as `outpost_arn`; moto's
    # response serializer maps the botocore member `OutpostArn` to the
    # attribute `outpost_arn`, so Create/DescribeSubnets emit <outpostArn>.
    Subnet.outpost_arn = None  # default for every subnet

    orig_create_subnet = Subnets.create_subnet

    def create_subnet(self):
        result = orig_create_subnet(self)
        outpost_arn = self._get_param("OutpostArn")
        if outpost_arn:
            result.result["Subnet"].outpost_arn = outpost_arn
        return result

    Subnets.create_subnet = create_subnet

    # -- 2. DescribeSubnets filter outpost-arn -------------------------------
    # Subnet.get_filter_value falls back to TaggedEC2Resource, which raises
    # FilterNotImplementedError (HTTP 500) when the attribute is None.
    orig_subnet_filter = Subnet.get_filter_value

    def subnet_get_filter_value(self, filter_name, method_name=None):
        if filter_name == "outpost-arn":
            return self.outpost_arn or ""  # "" never matches an ARN
        return orig_subnet_filter(self, filter_name, method_name)

    Subnet.get_filter_value = subnet_get_filter_value

    # -- 3. RunInstances ClientToken idempotency + client-token filter -------
    # InstanceResponse.run_instances always launches. Remember the token on
    # the stored Reservation (backend state, so a reset forgets it) and
    # answer a repeat with that reservation instead of launching again.
    # The lock makes check-then-launch atomic under the threaded server.
    orig_run_instances_response = InstanceResponse.run_instances
    token_lock = threading.Lock()

    def run_instances_response(self):
        token = self._get_param("ClientToken")
        if not token:
            return orig_run_instances_response(self)
        with token_lock:
            for reservation in self.ec2_backend.reservations.values():
                if getattr(reservation, "launcher_client_token", None) == token:
                    return ActionResult(reservation)
            result = orig_run_instances_response(self)
            result.result.launcher_client_token = token
            return result

    InstanceResponse.run_instances = run_instances_response

    # DescribeInstances filters go through ec2.utils.passes_filter_dict, which
    # only knows the names in this module-level mapping; Instance already has
    # `client_token` (moto stores "ABCDE" when the caller sent none).
    ec2_utils.filter_dict_attribute_mapping["client-token"] = "client_token"

    # -- 4. Launch template NetworkInterfaces --------------------------------
    # InstanceBackend.run_instances copies UserData/InstanceType/KeyName/SGs
    # from the template but not NetworkInterfaces. Feed them in as `nics`
    # (what RunInstances' own NetworkInterfaces become) and pin `subnet_id`
    # to the DeviceIndex 0 subnet: Instance.__init__ otherwise takes the
    # first listed NIC's subnet, and Instance.prep_nics then allocates the
    # primary IP there and creates one ENI per remaining device index in its
    # own SubnetId. Explicit RunInstances NetworkInterfaces win outright; an
    # explicit SubnetId / PrivateIpAddress overrides device 0 only.
    orig_run_instances_backend = InstanceBackend.run_instances

    def run_instances_backend(self, image_id, count, user_data, security_group_names, **kwargs):
        template_arg = kwargs.get("launch_template")
        if template_arg and not kwargs.get("nics"):
            data = self._get_template_from_args(template_arg).data
            nics = copy.deepcopy(data.get("NetworkInterfaces") or [])
            if nics:
                for position, nic in enumerate(nics):
                    nic["DeviceIndex"] = int(nic.get("DeviceIndex", position))
                nics.sort(key=lambda n: n["DeviceIndex"])
                primary = next((n for n in nics if n["DeviceIndex"] == 0), None)
                if primary is not None:
                    if kwargs.get("subnet_id"):
                        primary["SubnetId"] = kwargs["subnet_id"]
                    elif primary.get("SubnetId"):
                        kwargs["subnet_id"] = primary["SubnetId"]
                kwargs["nics"] = nics
        return orig_run_instances_backend(
            self, image_id, count, user_data, security_group_names, **kwargs
        )

    InstanceBackend.run_instances = run_instances_backend

    # -- 5. OutpostArn on instances and ENIs ---------------------------------
    # Derived from the subnet (patch 1); the serializer picks up the
    # `outpost_arn` attribute for Instance.OutpostArn / NetworkInterface.OutpostArn.
    def instance_outpost_arn(self):
        try:
            return self.ec2_backend.get_subnet(self.subnet_id).outpost_arn
        except Exception:  # no subnet / subnet deleted
            return None

    Instance.outpost_arn = property(instance_outpost_arn)
    NetworkInterface.outpost_arn = property(
        lambda self: getattr(self.subnet, "outpost_arn", None)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--log-requests", action="store_true", help="log every request to stderr"
    )
    args = parser.parse_args()

    # werkzeug logs one INFO line per request to stderr; keep only warnings and
    # errors (e.g. tracebacks behind an HTTP 500) unless asked, so a caller that
    # does not drain stderr cannot block the server on a full pipe.
    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # moto.server does this too; some services build callback URLs from it.
    os.environ.setdefault("MOTO_PORT", str(args.port))

    apply_patches()

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    # Same app that `moto_server` / ThreadedMotoServer serve (includes the
    # /moto-api/ endpoints such as POST /moto-api/reset).
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True)

    def stop(signum, frame):
        sys.exit(0)  # unwinds serve_forever in the main thread

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # The socket is bound and listening once make_server returns.
    print(f"moto ready on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
