// /hpa: every HorizontalPodAutoscaler (/ui/api/hpa): its metrics against their targets,
// replicas over time (the controller's recent syncs, plotted), conditions, what holds its
// Deployment back (quota, unschedulable pods), recent events and the last decisions with
// their reasons, refreshing.
import { every, start } from "../app.js";
import { APIError, get } from "../api.js";
import { alert, badge, clear, h, kv, table } from "../dom.js";
import { ago, humanSeconds, queryLink } from "../format.js";
import { Chart } from "../query/graph.js";

const REFRESH_MS = 15000;

function rfc3339(ms) {
  return new Date(ms).toISOString();
}

function metricsTable(hpa) {
  return table([
    ["Metric", (m) => h("span", { class: "mono" }, m.name)],
    ["Current / target", (m) => h("span", { class: "mono" }, m.text)],
    ["Type", (m) => m.type],
  ], hpa.metrics, { dataset: { metrics: hpa.name } });
}

function conditionsTable(hpa) {
  if (!hpa.conditions.length) return h("p", { class: "muted" }, "No conditions yet (not synced).");
  return table([
    ["Type", (c) => c.type],
    ["Status", (c) => badge(c.status, c.status === "True" ? "ok" : "unknown")],
    ["Reason", (c) => c.reason],
    ["Message", (c) => c.message],
    ["Since", (c) => ago(c.lastTransitionTime)],
  ], hpa.conditions, { dataset: { conditions: hpa.name } });
}

function eventsTable(hpa, now) {
  if (!hpa.events.length) return h("p", { class: "muted" }, "No recent events.");
  return table([
    ["Type", (e) => e.type],
    ["Reason", (e) => e.reason],
    ["Age", (e) => (e.count > 1 ? `${ago(rfc3339(e.last_ms), now)} (x${e.count} over ${humanSeconds((e.last_ms - e.first_ms) / 1000)})` : ago(rfc3339(e.last_ms), now))],
    ["Message", (e) => e.message],
  ], hpa.events, { dataset: { events: hpa.name } });
}

// What the Deployment says about pods it could not create or place.
function heldBack(hpa) {
  const t = hpa.target;
  if (t === null) return alert("error", `The scale target ${hpa.reference} does not exist.`);
  const out = [];
  if (t.replicaFailure) out.push(alert("error", h("strong", null, "ReplicaFailure: "), t.replicaFailure));
  if (t.unschedulable.length) {
    out.push(alert("error", h("strong", null, `${t.unschedulable.length} pod(s) unschedulable: `), t.unschedulable[0].message));
  }
  return [kv([
    ["Deployment replicas", `${t.replicas} (spec ${t.specReplicas}, ready ${t.readyReplicas}, terminating ${t.terminatingReplicas})`],
  ]), out];
}

// The decisions, newest first: the branch, the numbers and the decision record's lines.
function decisions(hpa) {
  if (!hpa.decisions.length) return h("p", { class: "muted" }, "No decision yet.");
  return [...hpa.decisions].reverse().map((d, i) => h("details", { class: "group", open: i === 0, dataset: { decision: String(d.t_ms) } },
    h("summary", null, h("span", { class: "stats" }, new Date(d.t_ms).toLocaleTimeString()), " ",
      h("strong", null, d.branch), ` ${d.current} -> ${d.desired}`,
      d.reason ? h("span", { class: "stats" }, ` ${d.reason}`) : null,
      d.error ? badge("error", "err") : null),
    h("div", { class: "body" }, h("pre", { class: "mono" }, d.lines.join("\n")))));
}

// The recent syncs' current and desired replicas as a chart of two series.
function replicas(container, hpa) {
  const hist = hpa.history;
  if (hist.length < 2) {
    clear(container, h("p", { class: "muted" }, "Replicas are plotted after two syncs."));
    return null;
  }
  let step = Infinity;
  for (let i = 1; i < hist.length; i++) if (hist[i][0] > hist[i - 1][0]) step = Math.min(step, hist[i][0] - hist[i - 1][0]);
  const series = (col, name) => ({ metric: { __name__: name }, values: hist.map((s) => [s[0] / 1000, String(s[col])]) });
  const chart = new Chart(container, () => {});
  chart.draw([series(1, "current replicas"), series(2, "desired replicas")], hist[0][0], hist[hist.length - 1][0], step, false);
  return chart;
}

function hpaSection(hpa, now, charts) {
  const plot = h("div", { class: "graph", dataset: { replicas: hpa.name } });
  const ksm = `kube_horizontalpodautoscaler_status_current_replicas{namespace="${hpa.namespace}",horizontalpodautoscaler="${hpa.name}"}`;
  const node = h("section", { dataset: { hpa: `${hpa.namespace}/${hpa.name}` }, "aria-labelledby": `hpa-${hpa.uid}` },
    h("h2", { id: `hpa-${hpa.uid}` }, `${hpa.namespace}/${hpa.name}`, " ", h("span", { class: "stats mono" }, hpa.reference)),
    kv([
      ["Targets", h("span", { class: "mono", dataset: { targets: "" } }, hpa.targets)],
      ["Min / max replicas", `${hpa.minReplicas ?? 1} / ${hpa.maxReplicas}`],
      ["Replicas", `${hpa.currentReplicas} current, ${hpa.desiredReplicas} desired`],
      ["Last scale", hpa.lastScaleTime ? ago(hpa.lastScaleTime, now) : "never"],
      ["Last sync", hpa.lastSyncMs === null ? "never" : ago(rfc3339(hpa.lastSyncMs), now)],
    ]),
    hpa.lastError ? alert("error", h("strong", null, "Sync failed: "), hpa.lastError) : null,
    h("h3", null, "Metrics"), metricsTable(hpa),
    h("h3", null, "Replicas over time"), plot,
    h("p", { class: "stats" }, "Longer history: ", h("a", { href: queryLink(ksm, "graph") }, "kube-state-metrics' series")),
    h("h3", null, "Scale target"), heldBack(hpa),
    h("h3", null, "Conditions"), conditionsTable(hpa),
    h("h3", null, "Events"), eventsTable(hpa, now),
    h("h3", null, "Last decisions"), decisions(hpa));
  return { node, draw: () => { const c = replicas(plot, hpa); if (c) charts.push(c); } };
}

start(async (root) => {
  const namespace = h("input", { type: "search", name: "namespace", placeholder: "namespace (empty: all)", "aria-label": "Namespace", "data-search": true });
  const out = h("div", { "aria-live": "polite" });
  let charts = [];
  const load = async () => {
    try {
      const { data } = await get("/ui/api/hpa", { namespace: namespace.value || undefined });
      for (const c of charts) c.destroy();
      charts = [];
      const now = Date.now();
      if (!data.hpas.length) {
        clear(out, alert("info", "No HorizontalPodAutoscaler. Add them under horizontal_pod_autoscalers in kubeprom.yml, or create one with ",
          h("code", null, "kubeprom autoscale deployment NAME --cpu-percent=50 --max=10"), "."));
        return;
      }
      const sections = data.hpas.map((hpa) => hpaSection(hpa, now, charts));
      clear(out, sections.map((s) => s.node));
      for (const s of sections) s.draw();  // once in the page, so the charts have a width
    } catch (err) {
      clear(out, alert("error", err instanceof APIError ? err.message : `Error: ${err.message}`));
    }
  };
  namespace.addEventListener("change", load);
  clear(root, h("div", { class: "row" }, namespace,
    h("span", { class: "stats" }, "what ", h("code", null, "kubeprom get hpa"), " and ", h("code", null, "kubeprom describe hpa"), " show, refreshing every 15s")), out);
  await load();
  every(REFRESH_MS, load);
});
