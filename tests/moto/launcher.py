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
     filter `client-token` (moto 500s on it). A repeat answers as the first
     answer did, which is EC2's behaviour (the first answer is replayed): the
     original reservation and instance ids, every instance in State `pending`
     (code 0) whatever its state now, so a dead (terminated) instance is
     answered as `pending`, and its original LaunchTime (moved only by 9h);
     the other fields are the instance's as moto holds it now. Also once the
     instances are terminated (EC2 keeps the token far longer than this server
     lives; moto never drops a terminated instance). Idempotency is zonal when the request
     names an Availability Zone (Placement.AvailabilityZone, or SubnetId /
     the DeviceIndex 0 NetworkInterface's SubnetId), else regional, as the
     EC2 Developer Guide's "Ensuring idempotency" describes: the same token in
     another zone launches again. IdempotentParameterMismatch is not emulated.
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
     8b. CreateTags with a tag key starting with `aws:` answers 400
     InvalidParameterValue, as EC2 does (moto accepts it): the tags EC2 sets
     itself, such as aws:ec2launchtemplate:id, cannot be forged here either.
     (moto already reports an instance's ClientToken and sets
     aws:ec2launchtemplate:id/version on a template launch.)
  9. Real AWS timing and failures, all off by default and switched at run
     time through a control API that this server answers itself (WSGI
     middleware launcher_control, in front of everything else):
       GET  /_launcher/config   the fault configuration (every key, defaults
                                filled in)
       POST /_launcher/config   JSON object: replaces the whole configuration
                                (a missing key is off/default); answers it
                                like GET; 400 {"error": ...} if invalid
       GET  /_launcher/calls    {"counts": {Action: n}, "by_service": {"ec2":
                                {...}, "elasticloadbalancing": {...}}, "held":
                                [{"action": A, "n": n}]}: EC2 and ELBv2
                                query-protocol requests that reached moto since
                                the last POST /moto-api/reset (a throttled one
                                did not); `counts` merges both services
       POST /_launcher/release  lets every held response go; {"released": n}
       GET  /_launcher/settling {"seconds": s}: how long until every instance
                                launched and every target registered so far
                                has settled under the current configuration
                                (running and visible past 9a/9b, past
                                `initial` in 9c); 0 when it has. Tests wait on
                                it instead of sleeping a guessed time.
       POST /_launcher/age      see 9h
     POST /moto-api/reset also restores the default configuration, zeroes the
     counts and releases held responses. Keys (default in brackets):
     9a. pending_seconds (float) [0]: an instance reports `pending` (code 0)
         until this long after RunInstances launched it (DescribeInstances
         and its instance-state-name filter, DescribeInstanceStatus), then
         `running`. Only while moto has it running: a stopped/terminated one
         shows its real state. (The answer of a RunInstances says pending
         anyway, a launch's as moto writes it and EC2 does, a ClientToken
         repeat's as the replayed first answer, gap 3.)
     9b. invisible_seconds (float) [0]: for this long after launch an instance
         is missing from DescribeInstances (every filter; naming it in
         InstanceIds answers InvalidInstanceID.NotFound, as EC2's eventual
         consistency does). RunInstances' own answer has it.
     9c. initial_health_seconds (float) [0]: DescribeTargetHealth reports a
         target `initial` for this long after RegisterTargets registered it
         (per target group, target id and port; first half
         Elb.RegistrationInProgress, then Elb.InitialHealthChecking), then
         moto's answer (healthy).
     9d. refuse_non_running_targets (bool) [false]: RegisterTargets answers
         400 InvalidTarget ("The following targets are not in a running state
         and cannot be registered: 'i-...'") for an instance whose state as
         reported here (9a included) is not running, and registers none of the
         targets. Off, moto's own check applies (its real state: pending
         instances register). refuse_instance_target_az (bool) [false]:
         RegisterTargets with an AvailabilityZone on a target of an `instance`
         or `alb` target group answers 400 ValidationError (the ELBv2 API
         Reference, TargetDescription: "This parameter is not supported if the
         target type of the target group is instance or alb").
     9e. buckets (true | object) [null]: EC2 API request throttling by token
         bucket (EC2_* tables below): true = the documented sizes and refill
         rates; an object {"Action": [size, refill_per_second]} overrides some
         of them ("Action:unfiltered" the unfiltered-and-unpaginated bucket,
         "Action:resources" the resource bucket). One set of buckets for all
         callers (one account, one Region); a request without a token answers
         HTTP 503 RequestLimitExceeded "Request limit exceeded." and never
         reaches moto. ELBv2 and CloudWatch are not throttled.
     9f. lost_responses (object) [null]: {"rate": 0..1, "seed": int [0],
         "actions": ["RunInstances", ...]}: a listed EC2/ELBv2 action runs in
         moto and, with probability `rate` (random.Random(seed), one draw per
         listed call in arrival order), a successful answer is replaced by HTTP
         500: EC2 InternalError, ELBv2 InternalFailure (Type Receiver). The
         call took effect; its answer was lost.
     9g. hold_after (object) [{}]: {"RunInstances": 3}: the 3rd RunInstances
         after this configuration was set runs in moto, then its response waits
         (at most HOLD_SECONDS) until POST /_launcher/release; meanwhile
         /_launcher/calls lists it in `held`. For killing the caller after a
         call took effect but before its answer arrived.
     9h. POST /_launcher/age {"instance_id": "i-...", "seconds": N} (N > 0)
         makes that instance N seconds older: its LaunchTime, as
         DescribeInstances and any later ClientToken repeat (gap 3) report
         it, moves N seconds earlier (moto's Instance.launch_time, a naive UTC
         datetime, shifted in place; EC2 answers show it to the whole second,
         2024-01-02T03:04:05.000Z). For "the replacement ran for ten minutes,
         then died" without waiting. Answers 200 {"instance_id",
         "launch_time": the new LaunchTime as moto serializes it}; 400
         {"error": ...} for a bad body (not a JSON object, a missing or
         unknown key, seconds not a positive number); 404 {"error": ...} for
         an instance id no account/Region holds. Only the reported LaunchTime
         moves: 9a/9b (and /_launcher/settling) keep timing from the real
         launch. Not a configuration key: POST /moto-api/reset drops the
         instance anyway.
     Action names are the query protocol's Action parameter; `counts` adds up
     an action both services have (DescribeTags) under one name.
 10. Elastic Disaster Recovery, which moto lacks: a small in-process DRS
     (drs_stub) answers the restJson1 operations the agent calls
     (DescribeSourceServers, DescribeJobs, DescribeRecoveryInstances,
     DescribeJobLogItems, GetLaunchConfiguration, UpdateLaunchConfiguration,
     StartRecovery) from a state a test sets:
       GET  /_launcher/drs   the state, jobs the agent started included
       POST /_launcher/drs   JSON object, replaces the state: "error" (an
                             error code every DRS call answers, e.g.
                             UninitializedAccountException, with its HTTP
                             status), "source_servers" [{"id", "hostname",
                             "instance_id", "state", "lag", "snapshots":
                             [{"id", "timestamp"}]}], "jobs" [{"id",
                             "status", "drill", "servers": {"s-…":
                             "LAUNCHED" | "FAILED" | …}, "created" (default:
                             when the state was set)}],
                             "recovery_instances" [{"server", "job",
                             "instance_id", "drill"}], "job_logs" {"job":
                             [{"server", "event", "error"}]}
     StartRecovery adds a STARTED job (with its "tags", which DescribeJobs
     answers, and "from_snapshots": the
     recoverySnapshotID each server was asked to launch from); a test ends it
     by POSTing the state again. DescribeRecoverySnapshots answers a server's
     "snapshots" (order, maxResults). POST /moto-api/reset empties the state.

Prints `moto ready on http://HOST:PORT` once the socket is listening and
serves until SIGTERM/SIGINT.
"""

import argparse
import json
import copy
import io
import logging
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape

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
    # InstanceResponse.run_instances always launches. Remember the token and
    # the request's zone on the stored Reservation (backend state, so a reset
    # forgets it) and answer a repeat with that reservation instead of
    # launching again. The stored Reservation lists its instances as moto
    # holds them (moto keeps terminated instances forever, with their
    # launch_time, which nothing but 9h rewrites); moto's response transformer
    # that writes State `pending` into every RunInstances answer
    # (EC2BaseResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER) applies to a repeat
    # too, so the repeat replays the first answer's state and LaunchTime, as
    # EC2 does, whatever the state is now (e.g. terminated). The lock makes
    # check-then-launch atomic under the threaded server.
    orig_run_instances_response = InstanceResponse.run_instances
    token_lock = threading.Lock()

    def idempotency_zone(self):
        """The zone a RunInstances request names, explicitly or by subnet
        (zonal idempotency), else None (regional)."""
        zone = self._get_param("Placement.AvailabilityZone")
        if zone:
            return zone
        subnet_ids = [self._get_param("SubnetId")] + [
            nic.get("SubnetId")
            for nic in self._get_param("NetworkInterfaces", [])
            if str(nic.get("DeviceIndex", "0")) == "0"
        ]
        for subnet_id in filter(None, subnet_ids):
            try:
                return self.ec2_backend.get_subnet(subnet_id).availability_zone
            except Exception:  # unknown subnet: moto's RunInstances reports it
                return None
        return None

    def run_instances_response(self):
        token = self._get_param("ClientToken")
        if not token:
            return orig_run_instances_response(self)
        zone = idempotency_zone(self)
        with token_lock:
            for reservation in self.ec2_backend.reservations.values():
                if getattr(reservation, "launcher_client_token", None) == token and (
                    getattr(reservation, "launcher_client_zone", None) == zone
                ):
                    return ActionResult(reservation)  # State: moto's `pending` transformer
            result = orig_run_instances_response(self)
            result.result.launcher_client_token = token
            result.result.launcher_client_zone = zone
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

    apply_fault_patches()


def apply_fault_patches() -> None:
    """Patches 9a-9d: moto's models consult FAULTS.config at call time."""
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2.models.instances import Instance, InstanceState
    from moto.ec2.responses.instances import InstanceResponse
    from moto.elbv2.exceptions import ELBClientError, TargetNotRunning
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    # Launch time on a monotonic clock, for 9a/9b (moto's launch_time is
    # wall-clock and serialized; this one is ours).
    Instance.launcher_launched_at = None
    orig_instance_init = Instance.__init__

    def instance_init(self, *args, **kwargs):
        orig_instance_init(self, *args, **kwargs)
        self.launcher_launched_at = time.monotonic()
        FAULTS.launched(self.launcher_launched_at)

    Instance.__init__ = instance_init

    def launched_within(instance, seconds):
        launched = instance.launcher_launched_at
        return seconds > 0 and launched is not None and time.monotonic() - launched < seconds

    # -- 9a. pending_seconds --------------------------------------------------
    # moto creates instances running. Every reader of the state goes through
    # these properties (the serializer's instanceState, the instance-state-name
    # filter, DescribeInstanceStatus, ELB); moto's own transitions write
    # `_state`, which stays the real state.
    def reported_state(self):
        real = self._state
        if real.name == "running" and launched_within(self, FAULTS.config["pending_seconds"]):
            return InstanceState("pending", 0)
        return real

    Instance.instance_state = property(reported_state)
    Instance.state = property(lambda self: reported_state(self).name)
    Instance.state_code = property(lambda self: reported_state(self).code)
    Instance.is_running = lambda self: reported_state(self).name == "running"

    # -- 9b. invisible_seconds ------------------------------------------------
    orig_describe_instances = InstanceResponse.describe_instances

    def describe_instances(self):
        seconds = FAULTS.config["invisible_seconds"]
        if seconds <= 0:
            return orig_describe_instances(self)
        backend = self.ec2_backend

        def invisible(instance):
            return launched_within(instance, seconds)

        named = [
            instance_id
            for instance_id in self._get_param("InstanceIds", [])
            if (instance := backend.get_instance_by_id(instance_id)) is not None
            and invisible(instance)
        ]
        if named:
            raise InvalidInstanceIdError(named)
        result = orig_describe_instances(self)
        reservations = []
        for reservation in result.result["Reservations"]:
            visible = [i for i in reservation.instances if not invisible(i)]
            if visible:
                reservation = copy.copy(reservation)  # moto's copy, but be sure
                reservation.instances = visible
                reservations.append(reservation)
        result.result["Reservations"] = reservations
        return result

    InstanceResponse.describe_instances = describe_instances

    # -- 9c/9d. RegisterTargets and DescribeTargetHealth ------------------------
    # FakeTargetGroup.register is replaced: moto checks `instance.state` (9a's
    # reported state) target by target and stores the ones before a refused
    # one. Here every target is checked first, against the reported state
    # with refuse_non_running_targets, else against moto's own (moto's
    # behaviour), and the registration time of each (id, port) that was not
    # registered already is kept on the target group.
    FakeTargetGroup.launcher_registered_at = None

    def register(self, targets):
        config = FAULTS.config
        if config["refuse_instance_target_az"] and self.target_type in ("instance", "alb"):
            if any(target.get("AvailabilityZone") for target in targets):
                raise ELBClientError(
                    "ValidationError",
                    "You cannot specify an Availability Zone for targets of a target group"
                    f" with target type '{self.target_type}'",
                )
        not_running = []
        for target in targets:
            instance = self.ec2_backend.get_instance_by_id(target["Id"])
            if instance is None:
                continue
            if config["refuse_non_running_targets"]:
                state = instance.state
            else:
                state = instance._state.name
            if state != "running":
                not_running.append(target["Id"])
        if not_running:
            raise TargetNotRunning(instance_id=", ".join(not_running))
        if self.launcher_registered_at is None:
            self.launcher_registered_at = {}
        now = time.monotonic()
        for target in targets:
            port = target.get("Port", self.port)
            current = self.targets.get(target["Id"])
            if current is None or current["Port"] != port:
                self.launcher_registered_at[(target["Id"], port)] = now
                FAULTS.registered(now)
            self.targets[target["Id"]] = {"Id": target["Id"], "Port": port}
            self.deregistered_targets.pop(target["Id"], None)

    FakeTargetGroup.register = register

    orig_health_for = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        status = orig_health_for(self, target, ec2_backend)
        seconds = FAULTS.config["initial_health_seconds"]
        registered = self.targets.get(target["Id"])
        if status.status != "healthy" or seconds <= 0 or registered is None:
            return status
        at = (self.launcher_registered_at or {}).get((registered["Id"], registered["Port"]))
        if at is None or time.monotonic() - at >= seconds:
            return status
        if time.monotonic() - at < seconds / 2:
            reason, description = "Elb.RegistrationInProgress", "Target registration is in progress"
        else:
            reason, description = "Elb.InitialHealthChecking", "Initial health checks in progress"
        return FakeHealthStatus(
            registered["Id"],
            registered["Port"],
            self.health_check_port,
            "initial",
            reason,
            description,
        )

    FakeTargetGroup.health_for = health_for


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


# -- 10. Elastic Disaster Recovery ----------------------------------------------
DRS_OPERATIONS = {
    "/DescribeSourceServers",
    "/DescribeJobs",
    "/DescribeRecoveryInstances",
    "/DescribeJobLogItems",
    "/GetLaunchConfiguration",
    "/UpdateLaunchConfiguration",
    "/StartRecovery",
    "/DescribeRecoverySnapshots",
}
DRS_ERROR_STATUS = {
    "UninitializedAccountException": 403,
    "AccessDeniedException": 403,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}


class DrsState:
    """The stub's DRS: what a test set, plus the jobs and configurations the
    agent wrote."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self, state=None):
        state = state or {}
        with self.lock:
            self.error = state.get("error")
            self.servers = list(state.get("source_servers", []))
            self.jobs = [dict(job) for job in state.get("jobs", [])]
            # A job the test gives no creation time was created now (not stuck).
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            for job in self.jobs:
                job.setdefault("created", now)
            self.recovery_instances = list(state.get("recovery_instances", []))
            self.job_logs = dict(state.get("job_logs", {}))
            self.configurations = dict(state.get("configurations", {}))

    def snapshot(self):
        with self.lock:
            return {
                "error": self.error,
                "source_servers": self.servers,
                "jobs": self.jobs,
                "recovery_instances": self.recovery_instances,
                "job_logs": self.job_logs,
                "configurations": self.configurations,
            }

    def answer(self, path, request):
        with self.lock:
            if self.error:
                return DRS_ERROR_STATUS.get(self.error, 400), {
                    "__type": self.error,
                    "message": f"{self.error} (emulated by launcher.py)",
                }
            return 200, self._answer(path, request)

    def _job(self, job):
        return {
            "jobID": job["id"],
            "arn": f"arn:aws:drs:us-east-1:111122223333:job/{job['id']}",
            "type": "LAUNCH",
            "initiatedBy": "START_DRILL" if job.get("drill") else "START_RECOVERY",
            "status": job.get("status", "STARTED"),
            "creationDateTime": job["created"],
            **({"tags": job["tags"]} if job.get("tags") else {}),
            "participatingServers": [
                {"sourceServerID": server, "launchStatus": status}
                for server, status in job.get("servers", {}).items()
            ],
        }

    def _configuration(self, server):
        c = self.configurations.get(server, {})
        answer = {"sourceServerID": server}
        for key in ("copyPrivateIp", "copyTags", "targetInstanceTypeRightSizingMethod"):
            if key in c:
                answer[key] = c[key]
        if "launchInto" in c:
            answer["launchIntoInstanceProperties"] = {"launchIntoEC2InstanceID": c["launchInto"]}
        return answer

    def _answer(self, path, request):
        filters = request.get("filters") or {}
        if path == "/DescribeSourceServers":
            wanted = filters.get("sourceServerIDs") or []
            return {
                "items": [
                    {
                        "sourceServerID": s["id"],
                        "arn": f"arn:aws:drs:us-east-1:111122223333:source-server/{s['id']}",
                        "sourceProperties": {
                            "identificationHints": {
                                "hostname": s.get("hostname"),
                                "awsInstanceID": s.get("instance_id"),
                            }
                        },
                        "dataReplicationInfo": {
                            "dataReplicationState": s.get("state", "CONTINUOUS"),
                            **({"lagDuration": s["lag"]} if s.get("lag") else {}),
                        },
                    }
                    for s in self.servers
                    if not wanted or s["id"] in wanted
                ]
            }
        if path == "/DescribeRecoverySnapshots":
            server = request["sourceServerID"]
            snapshots = [
                {
                    "snapshotID": snap["id"],
                    "sourceServerID": server,
                    "expectedTimestamp": snap["timestamp"],
                    "timestamp": snap["timestamp"],
                }
                for s in self.servers
                if s["id"] == server
                for snap in s.get("snapshots", [])
            ]
            newest_first = request.get("order", "ASC") == "DESC"
            snapshots.sort(key=lambda x: x["timestamp"], reverse=newest_first)
            return {"items": snapshots[: request.get("maxResults", 1000)]}
        if path == "/DescribeJobs":
            wanted = filters.get("jobIDs") or []
            return {
                "items": [
                    self._job(job)
                    for job in self.jobs
                    if not wanted or job["id"] in wanted
                ]
            }
        if path == "/DescribeRecoveryInstances":
            wanted = filters.get("sourceServerIDs") or []
            return {
                "items": [
                    {
                        "recoveryInstanceID": r["instance_id"],
                        "ec2InstanceID": r["instance_id"],
                        "jobID": r["job"],
                        "sourceServerID": r["server"],
                        "isDrill": bool(r.get("drill")),
                    }
                    for r in self.recovery_instances
                    if not wanted or r["server"] in wanted
                ]
            }
        if path == "/DescribeJobLogItems":
            return {
                "items": [
                    {
                        "event": item["event"],
                        "eventData": {
                            "sourceServerID": item.get("server"),
                            "rawError": item.get("error"),
                        },
                    }
                    for item in self.job_logs.get(request.get("jobID"), [])
                ]
            }
        if path == "/GetLaunchConfiguration":
            return self._configuration(request["sourceServerID"])
        if path == "/UpdateLaunchConfiguration":
            server = request["sourceServerID"]
            c = self.configurations.setdefault(server, {})
            for key in ("copyPrivateIp", "copyTags", "targetInstanceTypeRightSizingMethod"):
                if key in request:
                    c[key] = request[key]
            into = (request.get("launchIntoInstanceProperties") or {}).get(
                "launchIntoEC2InstanceID"
            )
            if into:
                c["launchInto"] = into
            return self._configuration(server)
        if path == "/StartRecovery":
            job = {
                "id": f"drsjob-{len(self.jobs) + 1:017x}",
                "status": "STARTED",
                "drill": bool(request.get("isDrill")),
                "servers": {
                    s["sourceServerID"]: "PENDING" for s in request.get("sourceServers", [])
                },
                "tags": dict(request.get("tags") or {}),
                # The snapshot each server launches from (none: fresh data).
                "from_snapshots": {
                    s["sourceServerID"]: s.get("recoverySnapshotID")
                    for s in request.get("sourceServers", [])
                },
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self.jobs.append(job)
            return {"job": self._job(job)}
        raise AssertionError(path)


DRS = DrsState()


def drs_stub(app):
    """Answers DRS's restJson1 operations (10) from DRS; everything else goes to `app`."""

    def middleware(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in DRS_OPERATIONS or environ["REQUEST_METHOD"] != "POST":
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        status, payload = DRS.answer(path, request)
        body = json.dumps(payload).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ]
        if status != 200:
            headers.append(("x-amzn-ErrorType", payload["__type"]))
        reason = {200: "OK", 403: "Forbidden", 429: "Too Many Requests"}.get(status, "Error")
        start_response(f"{status} {reason}", headers)
        return [body]

    return middleware


# -- 9. Run-time faults: configuration, throttling, lost and held responses -----
HOLD_SECONDS = 120.0  # 9g: a held response goes out after this at the latest

DEFAULT_CONFIG = {
    "pending_seconds": 0.0,
    "invisible_seconds": 0.0,
    "initial_health_seconds": 0.0,
    "refuse_non_running_targets": False,
    "refuse_instance_target_az": False,
    "buckets": None,
    "lost_responses": None,
    "hold_after": {},
}

# 9e. EC2 API request throttling, from the Amazon EC2 Developer Guide,
# "Request throttling for the Amazon EC2 API"
# (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html):
# tables "Request token bucket sizes and refill rates" and "Resource token
# bucket sizes and refill rates". (bucket maximum capacity, refill per second)
EC2_NON_MUTATING = (100, 20)  # Describe*, List*, Search*, Get* not listed elsewhere
EC2_UNFILTERED_NON_MUTATING = (50, 10)  # the actions below without filter/pagination
EC2_MUTATING = (50, 5)  # every other action
EC2_RESOURCE_INTENSIVE = (50, 5)
EC2_UNFILTERED_ACTIONS = frozenset(
    {
        "DescribeInstances",
        "DescribeInstanceStatus",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSpotInstanceRequests",
        "DescribeVolumes",
    }
)
EC2_RESOURCE_INTENSIVE_ACTIONS = frozenset(
    {
        "AcceptVpcPeeringConnection",
        "AuthorizeSecurityGroupIngress",
        "CancelSpotInstanceRequests",
        "CreateKeyPair",
        "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "RevokeSecurityGroupIngress",
        "RequestSpotInstances",
    }
)
# "Uncategorized actions" with their own sizes: the ones about instances,
# network interfaces, tags, launch templates, volumes and snapshots (the rest
# of that table fall back to their category here).
EC2_OWN_BUCKETS = {
    "RunInstances": (5, 2),
    "StartInstances": (5, 2),
    "TerminateInstances": (100, 5),
    "CreateTags": (100, 10),
    "DeleteTags": (100, 10),
    "CreateLaunchTemplateVersion": (100, 5),
    "ModifyLaunchTemplate": (100, 5),
    "CreateNetworkInterface": (100, 5),
    "DeleteNetworkInterface": (100, 5),
    "ModifyNetworkInterfaceAttribute": (100, 5),
    "AssignPrivateIpAddresses": (100, 5),
    "UnassignPrivateIpAddresses": (100, 5),
    "AssignIpv6Addresses": (100, 5),
    "AssociateIamInstanceProfile": (100, 5),
    "DisassociateIamInstanceProfile": (100, 5),
    "ModifyInstanceMetadataOptions": (100, 5),
    "DescribeInstanceTopology": (1, 1),
    "CreateVolume": (100, 5),
    "DeleteVolume": (100, 5),
    "CreateSnapshot": (100, 5),
    "CreateSnapshots": (100, 5),
    "DeleteSnapshot": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
    "DeregisterImage": (100, 5),
    "ModifyImageAttribute": (100, 5),
    "CopyImage": (100, 1),
}
# Resource token buckets: drained by the number of instances a call affects
# (RunInstances: MaxCount; the others: their InstanceId.N).
EC2_RESOURCE_BUCKETS = {
    "RunInstances": (1000, 2),
    "TerminateInstances": (1000, 20),
    "StartInstances": (1000, 2),
    "StopInstances": (1000, 20),
}

# The query protocol's Version per service this launcher counts and injects
# faults into (with the SigV4 credential scope's service name, when signed).
QUERY_SERVICES = {"2016-11-15": "ec2", "2015-12-01": "elasticloadbalancing"}
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
BUCKET_NAME = re.compile(r"[A-Za-z0-9]+(:unfiltered|:resources)?")


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_config(raw) -> dict:
    """The full configuration for a POST /_launcher/config body (ValueError
    with a message if invalid)."""
    if not isinstance(raw, dict):
        raise ValueError("the configuration must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown keys {unknown}; known: {sorted(DEFAULT_CONFIG)}")
    config = copy.deepcopy(DEFAULT_CONFIG)
    for key in ("pending_seconds", "invisible_seconds", "initial_health_seconds"):
        value = raw.get(key, 0)
        if not is_number(value) or value < 0:
            raise ValueError(f"{key} must be a number >= 0")
        config[key] = float(value)
    for key in ("refuse_non_running_targets", "refuse_instance_target_az"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        config[key] = value

    buckets = raw.get("buckets")
    if buckets is False or buckets is None:
        buckets = None
    elif buckets is True:
        buckets = {}
    elif isinstance(buckets, dict):
        for name, pair in buckets.items():
            if not BUCKET_NAME.fullmatch(name):
                raise ValueError(f"buckets: bad name {name!r} (Action[:unfiltered|:resources])")
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(is_number(v) and v >= 0 for v in pair)
                or pair[0] < 1
            ):
                raise ValueError(f"buckets.{name} must be [size >= 1, refill_per_second >= 0]")
        buckets = {name: [float(v) for v in pair] for name, pair in buckets.items()}
    else:
        raise ValueError("buckets must be true, false, null or an object")
    # Stored as given: null (off), true (documented defaults) or the overrides.
    config["buckets"] = None if buckets is None else (buckets or True)

    lost = raw.get("lost_responses")
    if lost is not None:
        if not isinstance(lost, dict) or set(lost) - {"rate", "seed", "actions"}:
            raise ValueError("lost_responses must be {rate, seed, actions}")
        rate, seed, actions = lost.get("rate"), lost.get("seed", 0), lost.get("actions")
        if not is_number(rate) or not 0 <= rate <= 1:
            raise ValueError("lost_responses.rate must be a number in [0, 1]")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("lost_responses.seed must be an integer")
        if (
            not isinstance(actions, list)
            or not actions
            or not all(isinstance(a, str) and a for a in actions)
        ):
            raise ValueError("lost_responses.actions must be a non-empty list of action names")
        config["lost_responses"] = {"rate": float(rate), "seed": seed, "actions": actions}

    hold = raw.get("hold_after", {})
    if not isinstance(hold, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in hold.values()
    ):
        raise ValueError(
            'hold_after must map action names to call numbers >= 1, e.g. {"RunInstances": 3}'
        )
    config["hold_after"] = dict(hold)
    return config


class TokenBucket:
    """Starts full; refills continuously at `rate` per second up to `size`."""

    def __init__(self, size: float, rate: float, now: float):
        self.size, self.rate = size, rate
        self.tokens = size
        self.stamp = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.size, self.tokens + elapsed * self.rate)
        self.stamp = max(self.stamp, now)


class LauncherFaults:
    """The run-time configuration (9) and what it needs to remember: call
    counts, token buckets, the lost-response RNG, held responses. One per
    server; every method is thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.config = copy.deepcopy(DEFAULT_CONFIG)  # replaced, never mutated
        self._counts = {}  # (service, action) -> calls that reached moto
        self._set_config(self.config)
        self._held = []  # dicts: action, n, event
        self._last_launch = None  # monotonic time of the newest instance
        self._last_registration = None  # and of the newest target registration

    def _set_config(self, config) -> None:  # with self._lock held (or in __init__)
        self.config = config
        self._since_config = {}  # action -> calls since this configuration
        self._buckets = {}  # bucket name -> TokenBucket, created full on first use
        lost = config["lost_responses"]
        self._rng = random.Random(lost["seed"]) if lost else None

    def configure(self, config) -> None:
        with self._lock:
            self._set_config(config)

    def reset(self) -> None:
        """POST /moto-api/reset: defaults, no counts, nothing held."""
        with self._lock:
            self._set_config(copy.deepcopy(DEFAULT_CONFIG))
            self._counts = {}
            self._last_launch = self._last_registration = None
        self.release()

    def launched(self, at) -> None:
        with self._lock:
            self._last_launch = at

    def registered(self, at) -> None:
        with self._lock:
            self._last_registration = at

    def settling(self) -> float:
        """Seconds until the newest instance and the newest registration are past
        their pending, invisible and initial windows under the current config."""
        with self._lock:
            config = self.config
            ends = []
            if self._last_launch is not None:
                window = max(config["pending_seconds"], config["invisible_seconds"])
                ends.append(self._last_launch + window)
            if self._last_registration is not None:
                ends.append(self._last_registration + config["initial_health_seconds"])
        return max([0.0] + [end - time.monotonic() for end in ends])

    def calls(self) -> dict:
        with self._lock:
            counts, by_service = {}, {}
            for (service, action), n in sorted(self._counts.items()):
                counts[action] = counts.get(action, 0) + n
                by_service.setdefault(service, {})[action] = n
            held = [{"action": h["action"], "n": h["n"]} for h in self._held]
        return {"counts": counts, "by_service": by_service, "held": held}

    def _bucket_specs(self, action, params):
        """[(bucket name, (size, rate), tokens needed)] for an EC2 call."""
        overrides = self.config["buckets"]
        overrides = overrides if isinstance(overrides, dict) else {}

        def spec(name, default):
            return tuple(overrides.get(name, default))

        if action in EC2_UNFILTERED_ACTIONS and not any(
            key.startswith("Filter.") or key in ("MaxResults", "NextToken") for key in params
        ):
            name = f"{action}:unfiltered"
            specs = [(name, spec(name, EC2_UNFILTERED_NON_MUTATING), 1)]
        elif action in EC2_OWN_BUCKETS:
            specs = [(action, spec(action, EC2_OWN_BUCKETS[action]), 1)]
        elif action in EC2_RESOURCE_INTENSIVE_ACTIONS:
            specs = [(action, spec(action, EC2_RESOURCE_INTENSIVE), 1)]
        elif action.startswith(("Describe", "List", "Search", "Get")):
            specs = [(action, spec(action, EC2_NON_MUTATING), 1)]
        else:
            specs = [(action, spec(action, EC2_MUTATING), 1)]
        if action in EC2_RESOURCE_BUCKETS:
            if action == "RunInstances":
                try:
                    needed = max(1, int(params.get("MaxCount", "1")))
                except ValueError:
                    needed = 1
            else:
                needed = max(1, sum(1 for key in params if key.startswith("InstanceId.")))
            name = f"{action}:resources"
            specs.append((name, spec(name, EC2_RESOURCE_BUCKETS[action]), needed))
        return specs

    def _take_tokens(self, action, params) -> bool:  # with self._lock held
        now = time.monotonic()
        taken = []
        for name, (size, rate), needed in self._bucket_specs(action, params):
            bucket = self._buckets.get(name)
            if bucket is None or (bucket.size, bucket.rate) != (size, rate):
                bucket = self._buckets[name] = TokenBucket(size, rate, now)
            bucket.refill(now)
            if bucket.tokens < needed:
                return False
            taken.append((bucket, needed))
        for bucket, needed in taken:  # all or nothing
            bucket.tokens -= needed
        return True

    def admit(self, service, action, params):
        """Decides a query-protocol call's fate before moto runs it:
        None if throttled, else (hold number or None, lose the answer?)."""
        with self._lock:
            config = self.config
            if service == "ec2" and config["buckets"] is not None:
                if not self._take_tokens(action, params):
                    return None
            key = (service, action)
            self._counts[key] = self._counts.get(key, 0) + 1
            n = self._since_config[action] = self._since_config.get(action, 0) + 1
            hold = n if config["hold_after"].get(action) == n else None
            lost = config["lost_responses"]
            lose = False
            if lost and action in lost["actions"]:
                lose = self._rng.random() < lost["rate"]
            return hold, lose

    def hold(self, action, n) -> None:
        """Blocks the calling request thread until release() or HOLD_SECONDS."""
        entry = {"action": action, "n": n, "event": threading.Event()}
        with self._lock:
            self._held.append(entry)
        entry["event"].wait(HOLD_SECONDS)
        with self._lock:
            if entry in self._held:
                self._held.remove(entry)

    def release(self) -> int:
        with self._lock:
            held, self._held = self._held, []
        for entry in held:
            entry["event"].set()
        return len(held)


FAULTS = LauncherFaults()


# -- 9h. POST /_launcher/age ---------------------------------------------------------
AGE_KEYS = frozenset({"instance_id", "seconds"})


def age_instance(raw):
    """9h: moves an instance's LaunchTime `seconds` earlier; returns (HTTP
    status, JSON payload) for a POST /_launcher/age body. moto 5.2.1 keeps
    Instance.launch_time as a naive UTC datetime (microseconds included); it
    stays one here. moto's EC2Serializer writes it as iso8601_zeroed
    ("%Y-%m-%dT%H:%M:%S.000Z", whole seconds), and so does the answer. The
    launcher's own launcher_launched_at (9a/9b, on the monotonic clock) is
    left alone."""
    import datetime
    import math

    from moto.core.serialize import TimestampSerializer
    from moto.ec2.models import ec2_backends

    if not isinstance(raw, dict):
        return 400, {"error": "the body is a JSON object {\"instance_id\": ..., \"seconds\": ...}"}
    if set(raw) != AGE_KEYS:
        return 400, {"error": f"the body has exactly the keys {sorted(AGE_KEYS)}, not {sorted(raw)}"}
    instance_id, seconds = raw["instance_id"], raw["seconds"]
    if not isinstance(instance_id, str) or not instance_id:
        return 400, {"error": "instance_id is a non-empty string"}
    if not is_number(seconds) or not math.isfinite(seconds) or seconds <= 0:
        return 400, {"error": f"seconds is a positive number, not {seconds!r}"}
    # dict.items() (not BackendDict's __getitem__): creates no backend.
    for _, regions in list(ec2_backends.items()):
        for _, backend in list(regions.items()):
            instance = backend.get_instance_by_id(instance_id)
            if instance is None:
                continue
            launch_time = instance.launch_time
            if not isinstance(launch_time, datetime.datetime):  # not moto 5.2.1's model
                return 500, {"error": f"unexpected launch_time {launch_time!r}"}
            try:
                launch_time = launch_time - datetime.timedelta(seconds=seconds)
            except OverflowError:
                return 400, {"error": f"seconds {seconds!r} is too large"}
            instance.launch_time = launch_time
            shown = launch_time.strftime(TimestampSerializer.ISO8601_MICRO_ZEROED)
            return 200, {"instance_id": instance_id, "launch_time": shown}
    return 404, {"error": f"no instance {instance_id}"}


def reserved_tag_key(service, action, params):
    """8b. The first `aws:` tag key a CreateTags request writes, which EC2 refuses (the prefix
    is EC2's own, e.g. aws:ec2launchtemplate:id); moto accepts it."""
    if service != "ec2" or action != "CreateTags":
        return None
    for key, value in sorted(params.items()):
        if key.startswith("Tag.") and key.endswith(".Key") and value.lower().startswith("aws:"):
            return value
    return None


def ec2_error(code, message):
    """EC2's error body (EC2 API Reference, "Error codes": example error response)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()


def elbv2_error(error_type, code, message):
    """ELBv2's (awsQuery) error body, as moto's own ELBv2 errors look."""
    return (
        '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        f"<Error><Type>{error_type}</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def query_call(environ):
    """(service, action, params) of an EC2/ELBv2 query-protocol request, else
    None. Reads a form body and puts it back for moto."""
    params = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if environ["REQUEST_METHOD"] == "POST" and environ.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):  # chunked, de-chunked by werkzeug
            body = stream.read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        for key, values in urllib.parse.parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True
        ).items():
            params.setdefault(key, []).extend(values)
    params = {key: values[-1] for key, values in params.items()}
    action = params.get("Action")
    service = QUERY_SERVICES.get(params.get("Version", ""))
    if not action or service is None:
        return None
    scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope and scope[1] != service:
        return None
    return service, action, params


def launcher_control(app):
    """Serves /_launcher/ (9) and applies the configured faults to EC2/ELBv2
    query-protocol calls on their way to `app` (moto) and back."""
    from werkzeug.wrappers import Response

    def json_response(environ, start_response, status, payload):
        response = Response(json.dumps(payload), status, mimetype="application/json")
        return response(environ, start_response)

    def read_body(environ):
        length = environ.get("CONTENT_LENGTH")
        if length:
            return environ["wsgi.input"].read(int(length))
        if environ.get("wsgi.input_terminated"):
            return environ["wsgi.input"].read()
        return b""

    def control(environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/_launcher/config" and method == "GET":
            return json_response(environ, start_response, 200, FAULTS.config)
        if path == "/_launcher/config" and method == "POST":
            body = read_body(environ)
            try:
                config = parse_config(json.loads(body or b"{}"))
            except ValueError as error:  # json.JSONDecodeError included
                return json_response(environ, start_response, 400, {"error": str(error)})
            FAULTS.configure(config)
            return json_response(environ, start_response, 200, config)
        if path == "/_launcher/calls" and method == "GET":
            return json_response(environ, start_response, 200, FAULTS.calls())
        if path == "/_launcher/settling" and method == "GET":
            return json_response(environ, start_response, 200, {"seconds": FAULTS.settling()})
        if path == "/_launcher/release" and method == "POST":
            return json_response(environ, start_response, 200, {"released": FAULTS.release()})
        if path == "/_launcher/age" and method == "POST":  # 9h
            try:
                raw = json.loads(read_body(environ) or b"null")
            except ValueError as error:  # json.JSONDecodeError included
                return json_response(environ, start_response, 400, {"error": str(error)})
            status, payload = age_instance(raw)
            return json_response(environ, start_response, status, payload)
        if path == "/_launcher/drs" and method == "GET":
            return json_response(environ, start_response, 200, DRS.snapshot())
        if path == "/_launcher/drs" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                state = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if not isinstance(state, dict):
                    raise ValueError("the DRS state is a JSON object")
            except ValueError as error:
                return json_response(environ, start_response, 400, {"error": str(error)})
            DRS.reset(state)
            return json_response(environ, start_response, 200, DRS.snapshot())
        message = (
            f"no {method} {path}; served: GET/POST /_launcher/config,"
            " GET /_launcher/calls, GET /_launcher/settling, POST /_launcher/release,"
            " POST /_launcher/age, GET/POST /_launcher/drs"
        )
        return json_response(environ, start_response, 404, {"error": message})

    def middleware(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_launcher/"):
            return control(environ, start_response)
        if path == "/moto-api/reset" and environ["REQUEST_METHOD"] == "POST":
            FAULTS.reset()
            DRS.reset()
            return app(environ, start_response)
        call = query_call(environ)
        if call is None:
            return app(environ, start_response)
        service, action, params = call
        fate = FAULTS.admit(service, action, params)
        if fate is None:  # 9e
            body = ec2_error("RequestLimitExceeded", "Request limit exceeded.")
            headers = [
                ("Content-Type", "text/xml;charset=UTF-8"),
                ("Content-Length", str(len(body))),
            ]
            start_response("503 Service Unavailable", headers)
            return [body]
        hold, lose = fate
        reserved = reserved_tag_key(service, action, params)
        if reserved is not None:  # 8b
            body = ec2_error(
                "InvalidParameterValue",
                f"Value ( {reserved} ) for parameter key is invalid."
                " Tag keys starting with 'aws:' are reserved for internal use",
            )
            headers = [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(body)))]
            start_response("400 Bad Request", headers)
            return [body]
        if hold is None and not lose:
            return app(environ, start_response)

        # Run the call in moto to the end, then hold and/or lose its answer.
        captured = {}
        chunks = []

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return chunks.append

        result = app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if hold is not None:  # 9g
            FAULTS.hold(action, hold)
        if lose and captured["status"].startswith("2"):  # 9f
            if service == "ec2":
                body = ec2_error("InternalError", "An internal error has occurred")
            else:
                body = elbv2_error(
                    "Receiver",
                    "InternalFailure",
                    "The request processing has failed because of an unknown error,"
                    " exception or failure.",
                )
            headers = [
                ("Content-Type", "text/xml"),
                ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ]
            start_response("500 Internal Server Error", headers)
            return [body]
        start_response(captured["status"], captured["headers"])
        return chunks

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
    # /moto-api/ endpoints such as POST /moto-api/reset), behind patches 6e
    # and 7, all behind the run-time faults (9).
    app = launcher_control(
        drs_stub(
            outposts_access_denied(
                cloudwatch_rpcv2_cbor(DomainDispatcherApplication(create_backend_app))
            )
        )
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
