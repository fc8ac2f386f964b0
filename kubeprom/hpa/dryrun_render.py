"""The text of a dry run: "why did it (not) scale", metric by metric.

For each metric: the PromQL each metrics API ran (with the series it got back), what the
backend made of it (metrics-server's per-container points and verdicts, the adapter rule
and series, KEDA's fallback), the per-pod values with the pod grouping, the ratio and the
tolerance verdict and the proposal; then the stabilization window, the policies, the
clamps, the desired count, the conditions and the events, as the controller would set them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kubeprom.config.hpa_spec import MetricSpec, MetricTarget
from kubeprom.hpa.controller import Scale
from kubeprom.hpa.decision import Branch, render_normalization, render_trace
from kubeprom.hpa.dryrun import DryRun
from kubeprom.hpa.metrics import FetchRecord
from kubeprom.hpa.metrics_resource import ResourceReading, Verdict
from kubeprom.hpa.pods import Phase, PodList, PodSamples, Ready
from kubeprom.hpa.promread import QueryRecord
from kubeprom.hpa.source import MetricFailure
from kubeprom.model.gofmt import format_g
from kubeprom.model.quantity import milli_text
from kubeprom.model.timeutil import format_rfc3339
from kubeprom.promql.api import ResultType

MAX_ROWS = 20


def _age(t_ms: int, now_ms: int) -> str:
    return f"{(t_ms - now_ms) / 1000:+g}s"


def _spec(spec: MetricSpec) -> str:
    if spec.resource is not None:
        return f"Resource {spec.resource.name}, {_target(spec.resource.target)}"
    if spec.container_resource is not None:
        c = spec.container_resource
        return f"ContainerResource {c.name} of container {c.container}, {_target(c.target)}"
    if spec.pods is not None:
        return f"Pods {spec.pods.metric.name}, {_target(spec.pods.target)}"
    if spec.object is not None:
        o = spec.object
        return (
            f"Object {o.metric.name} of {o.described_object.kind}/{o.described_object.name}, "
            f"{_target(o.target)}"
        )
    if spec.external is not None:
        return f"External {spec.external.metric.name}, {_target(spec.external.target)}"
    return spec.type


def _target(target: MetricTarget) -> str:
    if target.average_utilization is not None:
        return f"target {target.average_utilization}% of request"
    if target.average_value is not None:
        return f"target average {milli_text(target.average_value.milli_value())}"
    if target.value is not None:
        return f"target value {milli_text(target.value.milli_value())}"
    return f"target type {target.type!r} without a value"


def _queries(queries: Sequence[QueryRecord], now_ms: int, *, series: bool) -> list[str]:
    out = []
    for q in queries:
        at = "" if q.t_ms == now_ms else f" at {_age(q.t_ms, now_ms)}"
        out.append(f"query{at}: {q.expr}")
        if q.error is not None:
            out.append(f"  error: {q.error}")
            continue
        r = q.result
        if r is None:
            continue
        if r.result_type in (ResultType.SCALAR, ResultType.STRING):
            out.append(f"  {r.result_type}: {r.string or format_g(r.scalar)}")
            continue
        points = int(r.offsets[-1])
        kind = "series" if r.result_type is ResultType.VECTOR else "series (range)"
        out.append(f"  {len(r)} {kind}, {points} samples")
        if series and r.result_type is ResultType.VECTOR:
            for lab, _, v in list(r.series())[:MAX_ROWS]:
                out.append(f"  {lab} => {format_g(float(v[-1]))}")
            if len(r) > MAX_ROWS:
                out.append(f"  ... ({len(r)} in all)")
    return out


def _scan(reading: ResourceReading, now_ms: int) -> list[str]:
    s = reading.scan
    rows = np.nonzero(s.verdict != Verdict.NOT_LISTED.value)[0]
    if rows.size == 0:
        return ["no container series of the target's pods"]
    out = ["POD  CONTAINER  SAMPLE  PREVIOUS  CPU(cores)  MEMORY(bytes)  VERDICT"]
    for i in rows[:MAX_ROWS]:
        last = _age(int(s.last_ns[i]) // 1_000_000, now_ms)
        prev = _age(int(s.prev_ns[i]) // 1_000_000, now_ms) if s.prev_ns[i] > -(2**62) else "-"
        cpu = f"{int(s.cpu_nanocores[i])}n" if s.included[i] else "-"
        out.append(
            f"{s.pod[i]}  {s.container[i]}  {last}  {prev}  {cpu}  {int(s.memory[i])}  "
            f"{s.verdict[i]}"
        )
    if rows.size > MAX_ROWS:
        out.append(f"... ({rows.size} containers in all)")
    left_out = len(s) - rows.size
    if left_out:
        out.append(f"({left_out} containers of other pods in the namespace left out)")
    return out


def _result(result: object) -> list[str]:
    if isinstance(result, MetricFailure):
        return [f"answer: {result.message}"]
    if isinstance(result, PodSamples):
        return [f"answer: {len(result)} pods"]
    if isinstance(result, int):
        return [f"answer: {milli_text(result)}"]
    if isinstance(result, Sequence):
        values = ", ".join(milli_text(int(v)) for v in result)
        return [f"answer: [{values}]"]
    return []


def _fetch(f: FetchRecord, now_ms: int) -> list[str]:
    apis = {
        "resource": "metrics.k8s.io (metrics-server)",
        "pods": "custom.metrics.k8s.io",
        "object": "custom.metrics.k8s.io",
        "external": "external.metrics.k8s.io",
    }
    out = [f"{apis[f.api]}:"]
    body = _queries(f.queries, now_ms, series=f.reading is None)
    if f.reading is not None and f.queries:
        body += _scan(f.reading, now_ms)
    body += list(f.notes)
    body += _result(f.result)
    return out + [f"  {line}" for line in body]


def _pods(pods: PodList) -> str:
    running = int((pods.phase == Phase.RUNNING).sum())
    ready = int(((pods.phase == Phase.RUNNING) & (pods.ready == Ready.TRUE)).sum())
    pending = int((pods.phase == Phase.PENDING).sum())
    failed = int((pods.phase == Phase.FAILED).sum())
    deleting = int(pods.deleting.sum())
    return (
        f"pods: {len(pods)} (running {running}, ready {ready}, pending {pending}, failed "
        f"{failed}, terminating {deleting})"
    )


def render_dry_run(run: DryRun) -> list[str]:
    """The lines of a dry run."""
    final = run.final
    t = run.t_ms
    hpa = run.hpa
    ref = hpa.spec.scale_target_ref
    out = [f"HorizontalPodAutoscaler {hpa.key} at {format_rfc3339(t)} (dry run)"]
    scale = final.cluster.scale
    if isinstance(scale, Scale):
        out.append(
            f"scale target {ref.kind}/{ref.name}: spec.replicas {scale.spec_replicas}, "
            f"status.replicas {scale.status_replicas}, selector {scale.selector!r}"
        )
        out.append(_pods(final.cluster.pods))
    else:
        out.append(f"scale target {ref.kind}/{ref.name}: {scale.message}")
    events = [
        f"{'+' if up else '-'}{int(c)} at {_age(int(w), t)}"
        for up, ev in ((True, run.scale_up), (False, run.scale_down))
        for c, w in zip(ev.change, ev.t_ms, strict=True)
    ]
    out.append(
        f"controller memory: {len(run.replayed)} syncs replayed over "
        f"{run.history_ms // 1000}s; scale events over {run.events_ms // 1000}s: "
        f"{', '.join(events) or 'none'}"
    )
    if run.scaled_object is not None and run.poll is not None:
        out += _keda(run)
    decision = final.result.decision
    fetches = list(final.fetches)
    kinds = {"Resource": "resource", "ContainerResource": "resource", "Pods": "pods"}
    kinds |= {"Object": "object", "External": "external"}
    for m in decision.metrics:
        spec = hpa.spec.metrics[m.index]
        out.append(f"metric {m.index}: {_spec(spec)}")
        if fetches and fetches[0].api == kinds.get(spec.type):
            out += [f"  {line}" for line in _fetch(fetches.pop(0), t)]
        if m.error is not None:
            out.append(f"  invalid ({m.reason}): {m.error}")
            continue
        if m.trace is not None:
            out += [f"  {line}" for line in render_trace(m.trace)]
        out.append(f"  proposes {m.proposal} ({m.name})")
    if decision.branch is not Branch.METRICS:
        out.append(f"no metrics read: {decision.branch}")
    if decision.selector_error:
        out.append(f"selector: {decision.selector_error}")
    if decision.proposal is not None and decision.branch is Branch.METRICS:
        invalid = f", {decision.invalid_metrics} invalid" if decision.invalid_metrics else ""
        out.append(
            f"proposal: {decision.proposal} (from {decision.proposal_metric or '-'}{invalid})"
        )
    if decision.normalization is not None:
        out += render_normalization(decision.normalization)
    result = final.result
    if result.scaled_to is not None:
        out.append(
            f"would scale {ref.kind}/{ref.name} to {result.scaled_to}: {decision.rescale_reason}"
        )
    elif decision.desired is not None:
        out.append(f"would not scale: stays at {decision.desired}")
    if result.error:
        out.append(f"error: {result.error}")
    out.append("conditions:")
    for c in result.state.status.conditions:
        out.append(f"  {c.type} {'True' if c.status else 'False'} {c.reason}: {c.message}")
    if result.events:
        out.append("events:")
        out += [f"  {e.type} {e.reason}: {e.message}" for e in result.events]
    return out


def _keda(run: DryRun) -> list[str]:
    so = run.scaled_object
    poll = run.poll
    if so is None or poll is None:
        return []
    t = run.t_ms
    out = [
        f"KEDA ScaledObject {so.key}: triggers polled every {so.polling_interval_ms // 1000}s, "
        f"last at {_age(poll.t_ms, t)}"
    ]
    for trig, r in zip(so.triggers, poll.result.triggers, strict=True):
        out.append(f"  trigger {trig.index} ({trig.metric_name}): {trig.query}")
        if r.error is not None:
            out.append(f"    error: {r.error}")
            if r.query_error:
                out.append(f"    ({r.query_error})")
        else:
            state = "active" if r.active else "not active"
            out.append(
                f"    value {format_g(r.value or 0.0)} (activationThreshold "
                f"{format_g(trig.activation_threshold)}): {state}"
            )
    out += [f"  {note}" for note in poll.notes]
    status = poll.status
    last = "never" if status.last_active_ms is None else _age(status.last_active_ms, t)
    out.append(f"  last active: {last}; cooldown {so.cooldown_period_ms // 1000}s")
    if poll.result.scale_to is not None:
        out.append(f"  KEDA would set the replicas to {poll.result.scale_to}")
    for c in status.conditions:
        out.append(f"  {c.type} {c.status} {c.reason}: {c.message}")
    for e in poll.result.events:
        out.append(f"  event {e.type} {e.reason}: {e.message}")
    return out
