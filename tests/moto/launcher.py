#!/usr/bin/env python3
"""Start moto's server with EC2 and CloudWatch gaps filled, for the integration tests.

Usage: python launcher.py --host 127.0.0.1 --port PORT

Written against moto 5.2.1. All patches are applied in this process only
(nothing in site-packages is edited) and live on moto's classes/modules, not
on backend instances, so they survive POST /moto-api/reset.

Gaps filled (numbers match the "-- N." comments below):
  1. CreateSubnet keeps OutpostArn; DescribeSubnets returns it.
  2. DescribeSubnets filter `outpost-arn` (moto 500s on it).
  3. RunInstances honours ClientToken (idempotent); DescribeInstances
     filter `client-token` (moto 500s on it).
  4. RunInstances with a LaunchTemplate whose data holds NetworkInterfaces
     uses them (moto ignores them and falls back to a default subnet).
  5. Instances (and ENIs) in a subnet with an OutpostArn report it.
  6. CloudWatch for aws-sdk-cloudwatch (Rust, >= 1.100), which speaks Smithy
     RPC v2 CBOR; moto serves CloudWatch over query/JSON only.
     6a. New alarms start in INSUFFICIENT_DATA; StateTransitionedTimestamp
         is kept; PutMetricAlarm on an existing alarm keeps its state.
     6b. DescribeAlarms applies all its filters, AlarmTypes, and
         MaxRecords/NextToken paging.
     6c. Tags: ListTagsForResource/UntagResource know every alarm (unknown
         ARN: ResourceNotFoundException); DeleteAlarms drops the tags.
     6d. Metrics[].AccountId of a metric-math alarm is kept.
     6e. rpcv2Cbor on the wire: a WSGI middleware in front of moto's app
         (cloudwatch_rpcv2_cbor) runs moto's CloudWatch handlers for the
         operations in RPCV2_CBOR_OPERATIONS.
     6a-6d patch moto's CloudWatch models/handlers, so they hold for
     every protocol.
  7. The Outposts API, which moto lacks (it answers HTTP 500, which the SDK
     retries for seconds): every /outposts/ request gets the 403
     AccessDeniedException a workload account gets for an Outpost another
     account owns (outposts_access_denied).
  8. ModifySubnetAttribute EnableLniAtDeviceIndex is kept and DescribeSubnets
     returns it (moto ignores it).

Prints `moto ready on http://HOST:PORT` once the socket is listening and
serves until SIGTERM/SIGINT.
"""

import argparse
import json
import copy
import logging
import os
import re
import signal
import sys
import threading

import cbor2


def apply_patches() -> None:
    from moto.cloudwatch.exceptions import ResourceNotFoundException
    from moto.cloudwatch.models import Alarm, CloudWatchBackend, MetricDataQuery
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.exceptions import ServiceException
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

    # -- 6a. Alarm state like AWS -------------------------------------------
    # moto starts a new alarm in OK and has no StateTransitionedTimestamp (the
    # last change of StateValue, which the Rust side derives incident ids
    # from). Keep it as `state_transitioned_timestamp`: moto's serializers map
    # the member to that attribute. SetAlarmState to the current state only
    # moves StateUpdatedTimestamp.
    orig_alarm_init = Alarm.__init__

    def alarm_init(self, *args, **kwargs):
        orig_alarm_init(self, *args, **kwargs)
        self.state_value = "INSUFFICIENT_DATA"
        self.state_transitioned_timestamp = self.state_updated_timestamp

    Alarm.__init__ = alarm_init

    orig_update_state = Alarm.update_state

    def update_state(self, reason, reason_data, state_value):
        previous = self.state_value
        orig_update_state(self, reason, reason_data, state_value)
        if state_value != previous:
            self.state_transitioned_timestamp = self.state_updated_timestamp

    Alarm.update_state = update_state

    # CloudWatchBackend.put_metric_alarm replaces an existing alarm with a new
    # Alarm object. AWS overwrites the configuration only: carry the state
    # over, and ignore Tags as AWS does on an update (TagResource changes them).
    state_attributes = (
        "state_value",
        "state_reason",
        "state_reason_data",
        "state_updated_timestamp",
        "state_transitioned_timestamp",
        "history",
    )
    orig_put_metric_alarm = CloudWatchBackend.put_metric_alarm

    def put_metric_alarm(self, name, **kwargs):  # moto's callers pass keywords
        previous = self.alarms.get(name)
        if previous is not None:
            kwargs["tags"] = None
        alarm = orig_put_metric_alarm(self, name=name, **kwargs)
        if previous is not None:
            for attribute in state_attributes:
                setattr(alarm, attribute, getattr(previous, attribute))
        return alarm

    CloudWatchBackend.put_metric_alarm = put_metric_alarm

    # -- 6b. DescribeAlarms filters and paging ------------------------------
    # moto's handler applies only the first of ActionPrefix / AlarmNamePrefix /
    # AlarmNames / StateValue, returns composite alarms although AlarmTypes
    # defaults to metric alarms only, and ignores MaxRecords/NextToken.
    # Replaced: all filters apply; a page lists metric then composite alarms,
    # each sorted by name; NextToken is the offset of the next page.
    class InvalidNextToken(ServiceException):
        code = "InvalidNextToken"  # error shape in the CloudWatch model

    def describe_alarms(self):
        names = self._get_param("AlarmNames")
        prefix = self._get_param("AlarmNamePrefix") or ""
        state = self._get_param("StateValue")
        action_prefix = self._get_param("ActionPrefix")
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]
        max_records = self._get_int_param("MaxRecords", 50)  # AWS default
        token = self._get_param("NextToken") or "0"
        if not token.isdigit():
            raise InvalidNextToken(f"Invalid NextToken {token!r}")
        start = int(token)

        def wanted(alarm):
            return (
                (not names or alarm.name in names)
                and alarm.name.startswith(prefix)
                and (not state or alarm.state_value == state)
                and (
                    not action_prefix
                    or any(a.startswith(action_prefix) for a in alarm.alarm_actions)
                )
                and ("CompositeAlarm" if alarm.rule else "MetricAlarm") in types
            )

        alarms = sorted(
            filter(wanted, self.cloudwatch_backend.alarms.values()),
            key=lambda alarm: (alarm.rule is not None, alarm.name),
        )
        page = alarms[start : start + max_records]
        result = {
            "MetricAlarms": [a for a in page if a.rule is None],
            "CompositeAlarms": [a for a in page if a.rule is not None],
        }
        if start + max_records < len(alarms):
            result["NextToken"] = str(start + max_records)
        return ActionResult(result)

    CloudWatchResponse.describe_alarms = describe_alarms

    # -- 6c. Alarm tags -----------------------------------------------------
    # moto's ListTagsForResource answers any ARN (AWS: ResourceNotFoundException
    # for an unknown one), UntagResource only knows ARNs that still have a tag
    # (so it fails on an untagged alarm), and DeleteAlarms keeps the tags (so a
    # new alarm of the same name would inherit them).
    def require_taggable(backend, arn):
        known = {alarm.alarm_arn for alarm in backend.alarms.values()}
        known.update(rule.rule_arn for rule in backend.insight_rules.values())
        if arn not in known:
            raise ResourceNotFoundException(f"Resource {arn} not found")

    orig_list_tags = CloudWatchBackend.list_tags_for_resource

    def list_tags_for_resource(self, arn):
        require_taggable(self, arn)
        return orig_list_tags(self, arn)

    CloudWatchBackend.list_tags_for_resource = list_tags_for_resource

    def untag_resource(self, arn, tag_keys):
        require_taggable(self, arn)
        self.tagger.untag_resource_using_names(arn, tag_keys)

    CloudWatchBackend.untag_resource = untag_resource

    orig_delete_alarms = CloudWatchBackend.delete_alarms

    def delete_alarms(self, alarm_names):
        for name in alarm_names:
            if name in self.alarms:
                self.tagger.delete_all_tags_for_resource(self.alarms[name].alarm_arn)
        orig_delete_alarms(self, alarm_names)

    CloudWatchBackend.delete_alarms = delete_alarms

    # -- 6d. Metrics[].AccountId --------------------------------------------
    # CloudWatchResponse.put_metric_alarm builds MetricDataQuery objects
    # without AccountId; set it on the stored queries (same order as the
    # request's Metrics), where the serializers look for `account_id`.
    MetricDataQuery.account_id = None
    orig_put_metric_alarm_response = CloudWatchResponse.put_metric_alarm

    def put_metric_alarm_response(self):
        result = orig_put_metric_alarm_response(self)
        alarm = self.cloudwatch_backend.alarms[self._get_param("AlarmName")]
        for query, metric in zip(alarm.metric_data_queries, self._get_param("Metrics", [])):
            query.account_id = metric.get("AccountId")
        return result

    CloudWatchResponse.put_metric_alarm = put_metric_alarm_response

    # -- 8. Subnet EnableLniAtDeviceIndex -----------------------------------
    # moto knows no local network interfaces: ModifySubnetAttribute ignores
    # EnableLniAtDeviceIndex and DescribeSubnets never reports it. Keep it on
    # the Subnet model as `enable_lni_at_device_index`, the attribute moto's
    # serializer maps the member <enableLniAtDeviceIndex> to.
    Subnet.enable_lni_at_device_index = None
    orig_modify_subnet_attribute = Subnets.modify_subnet_attribute

    def modify_subnet_attribute(self):
        index = self._get_int_param("EnableLniAtDeviceIndex")
        if index is not None:
            subnet = self.ec2_backend.get_subnet(self._get_param("SubnetId"))
            subnet.enable_lni_at_device_index = index
        return orig_modify_subnet_attribute(self)

    Subnets.modify_subnet_attribute = modify_subnet_attribute


# -- 6e. CloudWatch over Smithy RPC v2 CBOR -----------------------------------
# Request: POST /service/GraniteServiceVersion20100801/operation/<Operation>
# (the service's shape name, then the operation's), header
# `smithy-protocol: rpc-v2-cbor`, body the CBOR input map (empty body: no
# input). Response: the same header; success is 200 with the CBOR output map
# (Content-Type application/cbor), or an empty body and no Content-Type when
# the operation has no output; an error is a CBOR map {"__type": shape id,
# "message": ...} with the error's HTTP status and, CloudWatch being
# awsQueryCompatible, `x-amzn-query-error: <query code>;Sender|Receiver`
# (the Rust SDK takes the error code from that header).
RPCV2_CBOR_PATH = re.compile(r"/service/GraniteServiceVersion20100801/operation/(\w+)")
SMITHY_NAMESPACE = "com.amazonaws.cloudwatch"
# Served (and checked by check_launcher.py); any other operation gets a 400.
RPCV2_CBOR_OPERATIONS = frozenset(
    {
        "PutMetricAlarm",
        "DescribeAlarms",
        "SetAlarmState",
        "DeleteAlarms",
        "ListTagsForResource",
        "TagResource",
        "UntagResource",
    }
)


def cloudwatch_rpcv2_cbor(app):
    """Wrap moto's WSGI app so it also serves CloudWatch over rpcv2Cbor.

    A request on RPCV2_CBOR_PATH runs the operation's moto handler
    (CloudWatchResponse) with the decoded CBOR map as its parameters, so it
    reads and writes cloudwatch_backends[account][region] like any moto
    CloudWatch call; region and account come from moto's own request logic
    (BaseResponse.setup_class: the SigV4 credential scope in Authorization,
    else us-east-1; the access key's account, else 123456789012). The result
    goes through moto's JSON serializer with CBOR framing. Everything else
    passes through to `app` untouched.
    """
    from botocore import xform_name
    from botocore.utils import parse_to_aware_datetime
    from werkzeug.wrappers import Request, Response

    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionContext, ActionResult
    from moto.core.serialize import JSONSerializer
    from moto.core.utils import get_service_model

    class RpcV2CborSerializer(JSONSerializer):
        """moto's awsJson serializer (members looked up on moto's models,
        error shapes and codes from the service model, x-amzn-query-error)
        with rpcv2Cbor framing."""

        CONTENT_TYPE = "application/cbor"

        def _get_protocol_specific_content_type(self):
            return self.CONTENT_TYPE

        def _get_protocol_specific_error_code(self, error):
            return f"{SMITHY_NAMESPACE}#{error.name}"

        def _serialize_error_metadata(self, serialized, error, shape):
            super()._serialize_error_metadata(serialized, error, shape)
            # moto adds "Message" whatever the shape's members: send the
            # message once, under the shape's own member name, else "message".
            message = serialized.pop("Message", None)
            key = "Message" if "Message" in shape.members else "message"
            if message and key not in serialized:
                serialized[key] = message

        def _serialize_type_timestamp(self, serialized, value, shape, key):
            # An aware datetime, which cbor2 writes as tag 1 (epoch seconds).
            self._default_serialize(serialized, parse_to_aware_datetime(value), shape, key)

        def _serialized_result_to_response(self, resp, result, shape, serialized_result):
            if shape is None:  # no output: empty body, no Content-Type
                return resp
            return super()._serialized_result_to_response(
                resp, result, shape, serialized_result
            )

        def _serialize_body(self, body):
            return cbor2.dumps(body, datetime_as_timestamp=True)

    service_model = get_service_model("cloudwatch")

    def call_operation(request, operation):
        handler = CloudWatchResponse()
        handler.setup_class(request, request.url, request.headers, use_raw_body=True)
        handler.params = cbor2.loads(handler.body) if handler.body else {}
        try:
            result = getattr(handler, xform_name(operation))()
        except ServiceException as error:
            result = ActionResult(error)
        context = ActionContext(
            service_model,
            service_model.operation_model(operation),
            RpcV2CborSerializer,
            handler,
        )
        return result.execute_result(context)

    def middleware(environ, start_response):
        match = RPCV2_CBOR_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ["REQUEST_METHOD"] != "POST":
            return app(environ, start_response)
        operation = match[1]
        if operation in RPCV2_CBOR_OPERATIONS:
            status, headers, body = call_operation(Request(environ), operation)
        else:
            served = ", ".join(sorted(RPCV2_CBOR_OPERATIONS))
            message = (
                f"CloudWatch {operation} is not served over rpcv2Cbor by"
                f" {os.path.basename(__file__)} (served: {served})"
            )
            status = 400
            headers = {"Content-Type": RpcV2CborSerializer.CONTENT_TYPE}
            body = cbor2.dumps({"__type": "UnsupportedOperation", "message": message})
        headers["smithy-protocol"] = "rpc-v2-cbor"
        response = Response(body, status, headers)
        if not body:  # werkzeug would add Content-Type: text/plain
            del response.headers["Content-Type"]
        return response(environ, start_response)

    return middleware


# -- 7. The Outposts API ---------------------------------------------------------
def outposts_access_denied(app):
    """Answers every Outposts API request (paths under /outposts/) as AWS answers a
    caller without access: 403, AccessDeniedException, at once."""
    body = json.dumps(
        {"message": "User is not authorized to access this Outpost (emulated by launcher.py)"}
    ).encode()

    def middleware(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith("/outposts/"):
            return app(environ, start_response)
        start_response(
            "403 Forbidden",
            [
                ("Content-Type", "application/json"),
                ("x-amzn-ErrorType", "AccessDeniedException"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    return middleware


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
    # /moto-api/ endpoints such as POST /moto-api/reset), behind patch 6e.
    app = outposts_access_denied(
        cloudwatch_rpcv2_cbor(DomainDispatcherApplication(create_backend_app))
    )
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
