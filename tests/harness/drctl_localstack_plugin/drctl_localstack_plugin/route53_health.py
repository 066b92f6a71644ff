"""Route53 health checkers and DNS answers that follow the endpoints' real health.

LocalStack's Route53 (moto) reports every health check as "Success" and has no
``TestDNSAnswer``; moto's ``UpdateHealthCheck`` cannot set ``Inverted`` (or ``Disabled``)
back to false. ``drctl drill`` observes exactly these, so this provider adds them:

* A checker thread evaluates each HTTP/HTTPS health check every ``RequestInterval`` x
  ``DRCTL_HEALTH_CHECK_TIME_SCALE`` seconds (``localstack.sh`` defaults the scale to 0.02:
  30 s -> 0.6 s). An endpoint that is an ELBv2 load balancer's DNS name is *up* when the
  load balancer is active, one of its security groups lets ``0.0.0.0/0`` in on the port,
  a listener on the port forwards to a target group, and that group has a registered
  instance that is running (an ASG at 0 leaves none). Any other name is down.
* The status turns unhealthy after ``FailureThreshold`` consecutive failed checks and
  healthy again after as many consecutive successes; a new check starts healthy.
* ``CreateHealthCheck`` / ``UpdateHealthCheck`` store ``Inverted`` and ``Disabled`` as
  booleans (moto keeps the request's text, and its update only applies truthy values).
* ``GetHealthCheckStatus`` lists three checkers' observations of the endpoint (raw, not
  inverted). ``Inverted`` and ``Disabled`` (healthy) apply to what Route53 *uses*: the DNS
  answers.
* ``TestDNSAnswer`` follows failover records: PRIMARY while its health check is healthy
  and, with ``EvaluateTargetHealth``, its alias target has a healthy target; otherwise
  SECONDARY if that one is healthy; both unhealthy answers PRIMARY (as AWS does). An
  alias answer's ``RecordData`` is the alias target's DNS name (AWS gives its IPs).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone

from localstack.aws.api import CommonServiceException, RequestContext, handler

SCALE_ENV = "DRCTL_HEALTH_CHECK_TIME_SCALE"
# The Route53 checker regions AWS reports from (three are enough to show a quorum).
CHECKER_IPS = ["15.177.2.1", "15.177.10.1", "15.177.18.1"]
CHECKER_REGIONS = ["us-east-1", "us-west-1", "eu-west-1"]

_LOCK = threading.RLock()
# (account, health_check_id) -> {"healthy", "fails", "oks", "last", "up", "reason"}
CHECKERS: dict[tuple, dict] = {}
_THREAD: threading.Thread | None = None


def time_scale() -> float:
    try:
        value = float(os.environ.get(SCALE_ENV, "1"))
    except ValueError:
        value = 1.0
    return value if value > 0 else 1.0


def reset_state() -> None:
    with _LOCK:
        CHECKERS.clear()


def _as_bool(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return bool(v)


def _backend(account: str):
    from moto.route53.models import route53_backends

    return route53_backends[account]["aws"]


# ---------------------------------------------------------------------------------------
# endpoint health (what a Route53 checker would see)
# ---------------------------------------------------------------------------------------
def _find_lb(account: str, fqdn: str):
    from moto.elbv2.models import elbv2_backends

    name = (fqdn or "").rstrip(".").lower()
    for region, backend in list(elbv2_backends.get(account, {}).items()):
        for lb in list(backend.load_balancers.values()):
            if (lb.dns_name or "").lower() == name:
                return region, backend, lb
    return None


def _sg_allows(account: str, region: str, group_ids, port: int) -> bool:
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account][region]
    for gid in group_ids or []:
        sg = ec2.get_security_group_from_id(gid)
        if sg is None:
            continue
        for rule in list(sg.ingress_rules):
            proto = str(rule.ip_protocol or "")
            if proto not in ("tcp", "6", "-1"):
                continue
            if proto != "-1" and not (rule.from_port <= port <= rule.to_port):
                continue
            cidrs = [rule.ip_range.get("CidrIp")] if rule.ip_range else []
            if "0.0.0.0/0" in cidrs:
                return True
    return False


def _healthy_targets(account: str, region: str, backend, tg_arn: str) -> int:
    from moto.ec2.models import ec2_backends

    tg = backend.target_groups.get(tg_arn)
    if tg is None:
        return 0
    ec2 = ec2_backends[account][region]
    n = 0
    for target_id in list(tg.targets.keys()):
        if target_id.startswith("i-"):
            try:
                inst = ec2.get_instance_by_id(target_id)
            except Exception:  # noqa: BLE001 - a terminated instance may be gone
                inst = None
            state = getattr(inst, "state", None) if inst else None
            if state != "running":
                continue
        n += 1
    return n


def _target_groups_of(backend, lb, port: int | None):
    arns = []
    for listener in list(lb.listeners.values()):
        if port is not None and int(listener.port) != int(port):
            continue
        for action in listener.default_actions:
            data = action.data
            if "TargetGroupArn" in data:
                arns.append(data["TargetGroupArn"])
            for tg in (data.get("ForwardConfig") or {}).get("TargetGroups", []) or []:
                arns.append(tg["TargetGroupArn"])
    return arns


def lb_has_healthy_target(account: str, fqdn: str) -> bool:
    """What ``EvaluateTargetHealth`` sees for an alias to this load balancer."""
    found = _find_lb(account, fqdn)
    if not found:
        return False
    region, backend, lb = found
    return any(
        _healthy_targets(account, region, backend, arn) > 0
        for arn in _target_groups_of(backend, lb, None)
    )


def probe(account: str, fqdn: str, port: int) -> tuple[bool, str]:
    """One checker's view of http://fqdn:port: (up, status text as AWS words it)."""
    found = _find_lb(account, fqdn)
    if not found:
        return False, "Failure: DNS resolution failed: Rcode NXDomain(3)"
    region, backend, lb = found
    if getattr(lb, "state", "active") not in ("active", "provisioning"):
        return False, "Failure: Connection timed out. The endpoint or the internet connection is down."
    if not _sg_allows(account, region, lb.security_groups, port):
        return False, "Failure: Connection timed out. The endpoint or the internet connection is down."
    tgs = _target_groups_of(backend, lb, port)
    if not tgs:
        return False, "Failure: Connection refused. The endpoint or the internet connection is down."
    if not any(_healthy_targets(account, region, backend, arn) > 0 for arn in tgs):
        return False, "Failure: HTTP Status Code 503, Service Temporarily Unavailable"
    return True, "Success: HTTP Status Code 200, OK"


# ---------------------------------------------------------------------------------------
# the checker thread
# ---------------------------------------------------------------------------------------
def _tick() -> None:
    from moto.route53.models import route53_backends

    now = time.monotonic()
    scale = time_scale()
    seen = set()
    for account, per_account in list(route53_backends.items()):
        backend = per_account.get("aws") if hasattr(per_account, "get") else None
        if backend is None:
            continue
        for hc_id, hc in list(backend.health_checks.items()):
            key = (account, hc_id)
            seen.add(key)
            if str(hc.type_ or "").upper() not in ("HTTP", "HTTPS", "HTTP_STR_MATCH"):
                continue
            interval = float(hc.request_interval or 30) * scale
            threshold = int(hc.failure_threshold or 3)
            with _LOCK:
                st = CHECKERS.setdefault(
                    key,
                    {"healthy": True, "fails": 0, "oks": 0, "last": None, "up": True,
                     "reason": "Success: HTTP Status Code 200, OK", "checked": None},
                )
                if st["last"] is not None and now - st["last"] < interval:
                    continue
                st["last"] = now
            port = int(hc.port or (443 if str(hc.type_).upper() == "HTTPS" else 80))
            up, reason = probe(account, hc.fqdn, port)
            with _LOCK:
                st["up"], st["reason"] = up, reason
                st["checked"] = datetime.now(timezone.utc)
                if up:
                    st["oks"], st["fails"] = st["oks"] + 1, 0
                    if not st["healthy"] and st["oks"] >= threshold:
                        st["healthy"] = True
                else:
                    st["fails"], st["oks"] = st["fails"] + 1, 0
                    if st["healthy"] and st["fails"] >= threshold:
                        st["healthy"] = False
    with _LOCK:
        for key in list(CHECKERS):
            if key not in seen:
                del CHECKERS[key]


def _loop() -> None:
    while True:
        try:
            _tick()
        except Exception:  # noqa: BLE001 - a model changing under us; try again next tick
            pass
        time.sleep(0.05)


def start_checkers() -> None:
    global _THREAD
    with _LOCK:
        if _THREAD is None or not _THREAD.is_alive():
            _THREAD = threading.Thread(target=_loop, name="drctl-route53-checkers", daemon=True)
            _THREAD.start()


def effective_healthy(account: str, hc_id: str) -> bool:
    """The status Route53 *uses* (Inverted and Disabled applied)."""
    hc = _backend(account).health_checks.get(hc_id)
    if hc is None:
        # AWS: a record whose health check was deleted is treated as healthy
        return True
    if _as_bool(getattr(hc, "disabled", False)):
        return not _as_bool(hc.inverted)  # a disabled check counts as healthy (before Inverted)
    with _LOCK:
        st = CHECKERS.get((account, hc_id))
        healthy = True if st is None else st["healthy"]
    return healthy != _as_bool(hc.inverted)


# ---------------------------------------------------------------------------------------
# the provider
# ---------------------------------------------------------------------------------------
def make_provider():
    from localstack.services.moto import call_moto
    from localstack.services.route53.provider import Route53Provider

    class DrctlRoute53Provider(Route53Provider):
        def on_after_init(self):
            start_checkers()

        @handler("CreateHealthCheck", expand=False)
        def create_health_check(self, context: RequestContext, request):
            answer = call_moto(context)
            hc_id = (answer.get("HealthCheck") or {}).get("Id")
            hc = _backend(context.account_id).health_checks.get(hc_id)
            if hc is not None:
                # moto keeps the XML text ("false" is truthy); GetHealthCheck then says true
                hc.inverted = _as_bool(hc.inverted)
                hc.disabled = _as_bool(getattr(hc, "disabled", False))
            return answer

        @handler("UpdateHealthCheck", expand=False)
        def update_health_check(self, context: RequestContext, request):
            answer = call_moto(context)
            hc = _backend(context.account_id).health_checks.get(request["HealthCheckId"])
            if hc is not None:
                # moto only applies truthy values: Inverted/Disabled could never go back
                for field, attr in (("Inverted", "inverted"), ("Disabled", "disabled")):
                    if field in request and request[field] is not None:
                        setattr(hc, attr, _as_bool(request[field]))
                hc.inverted = _as_bool(hc.inverted)
                hc.disabled = _as_bool(getattr(hc, "disabled", False))
            return answer

        @handler("GetHealthCheckStatus")
        def get_health_check_status(self, context: RequestContext, health_check_id, **kwargs):
            start_checkers()
            if health_check_id not in _backend(context.account_id).health_checks:
                raise CommonServiceException(
                    "NoSuchHealthCheck",
                    f"A health check with id {health_check_id} does not exist.",
                    status_code=404,
                    sender_fault=True,
                )
            with _LOCK:
                st = dict(CHECKERS.get((context.account_id, health_check_id)) or {})
            checked = st.get("checked") or datetime.now(timezone.utc)
            reason = st.get("reason", "Success: HTTP Status Code 200, OK")
            return {
                "HealthCheckObservations": [
                    {
                        "Region": region,
                        "IPAddress": ip,
                        "StatusReport": {"Status": reason, "CheckedTime": checked},
                    }
                    for region, ip in zip(CHECKER_REGIONS, CHECKER_IPS)
                ]
            }

        @handler("TestDNSAnswer")
        def test_dns_answer(
            self, context: RequestContext, hosted_zone_id, record_name, record_type, **kwargs
        ):
            start_checkers()
            account = context.account_id
            backend = _backend(account)
            zone_id = hosted_zone_id.split("/")[-1]
            try:
                zone = backend.get_hosted_zone(zone_id)
            except Exception as e:  # noqa: BLE001 - moto's NoSuchHostedZone
                raise CommonServiceException(
                    "NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}",
                    status_code=404, sender_fault=True,
                ) from e
            want = record_name.rstrip(".").lower()
            rrsets = [
                r for r in zone.rrsets
                if (r.name or "").rstrip(".").lower() == want and r.type_ == record_type
            ]
            data = _answer(account, rrsets)
            return {
                "Nameserver": "ns-0.awsdns-00.com",
                "RecordName": record_name,
                "RecordType": record_type,
                "RecordData": data,
                "ResponseCode": "NOERROR" if data else "NXDOMAIN",
                "Protocol": "UDP",
            }

    return DrctlRoute53Provider()


def _record_values(account: str, r) -> list[str]:
    alias = r.alias_target or {}
    if alias:
        return [str(alias.get("DNSName", "")).rstrip(".")]
    return [v if isinstance(v, str) else v.get("Value", "") for v in (r.records or [])]


def _record_healthy(account: str, r) -> bool:
    if r.health_check and not effective_healthy(account, r.health_check):
        return False
    alias = r.alias_target or {}
    if alias and _as_bool(alias.get("EvaluateTargetHealth", False)):
        return lb_has_healthy_target(account, alias.get("DNSName", ""))
    return True


def _answer(account: str, rrsets) -> list[str]:
    if not rrsets:
        return []
    failover = {str(r.failover or "").upper(): r for r in rrsets if r.failover}
    if not failover:
        return _record_values(account, rrsets[0])
    primary, secondary = failover.get("PRIMARY"), failover.get("SECONDARY")
    if primary is not None and _record_healthy(account, primary):
        return _record_values(account, primary)
    if secondary is not None and _record_healthy(account, secondary):
        return _record_values(account, secondary)
    # every record unhealthy: Route53 answers as if all were healthy
    return _record_values(account, primary or secondary)
