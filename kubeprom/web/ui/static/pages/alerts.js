// /alerts: alerting rules by state with their alerts (/api/v1/rules?type=alert), or every
// active alert in one list (/api/v1/alerts); both Prometheus' documented shapes.
import { start } from "../app.js";
import { get } from "../api.js";
import { alert, badge, clear, h, kv, labelBadges, table } from "../dom.js";
import { ago, humanSeconds, localTime, queryLink } from "../format.js";

const STATES = ["firing", "pending", "inactive"];

function alertsTable(alerts, now) {
  return table([
    ["Labels", (a) => labelBadges(a.labels)],
    ["State", (a) => badge(a.state)],
    ["Active since", (a) => h("span", { title: localTime(a.activeAt) }, ago(a.activeAt, now))],
    ["Value", (a) => h("span", { class: "mono" }, a.value), { num: true }],
    ["Annotations", (a) => kv(Object.entries(a.annotations || {}))],
  ], alerts, { dataset: { alerts: "" } });
}

function ruleSection(rule, now) {
  const active = rule.alerts || [];
  return h("details", { class: "group", open: rule.state !== "inactive", dataset: { alertname: rule.name, state: rule.state } },
    h("summary", null, badge(rule.state), h("strong", null, rule.name),
      h("span", { class: "stats" }, `${active.length} active`),
      rule.health !== "ok" ? badge(rule.health) : null),
    h("div", { class: "body" },
      h("pre", null, "alert: ", rule.name, "\nexpr: ", h("a", { href: queryLink(rule.query) }, rule.query),
        rule.duration ? `\nfor: ${humanSeconds(rule.duration)}` : "",
        rule.keepFiringFor ? `\nkeep_firing_for: ${humanSeconds(rule.keepFiringFor)}` : "",
        Object.keys(rule.labels || {}).length ? `\nlabels:${Object.entries(rule.labels).map(([k, v]) => `\n  ${k}: ${v}`).join("")}` : "",
        Object.keys(rule.annotations || {}).length ? `\nannotations:${Object.entries(rule.annotations).map(([k, v]) => `\n  ${k}: ${v}`).join("")}` : ""),
      rule.lastError ? alert("error", h("strong", null, "Error: "), rule.lastError) : null,
      active.length ? alertsTable(active, now) : null));
}

start(async (root) => {
  const [rules, flat] = await Promise.all([get("/api/v1/rules", { type: "alert" }), get("/api/v1/alerts")]);
  const groups = (rules.data.groups || []).map((g) => ({ ...g, rules: g.rules.filter((r) => r.type === "alerting") }));
  const all = groups.flatMap((g) => g.rules);
  const active = flat.data.alerts || [];
  const counts = Object.fromEntries(STATES.map((s) => [s, all.filter((r) => r.state === s).length]));
  const boxes = STATES.map((s) => h("label", null, h("input", { type: "checkbox", checked: true, value: s, "aria-label": s }), " ", badge(`${s} (${counts[s]})`, s)));
  const view = h("select", { "aria-label": "View" }, h("option", { value: "rules" }, "Group by rule"), h("option", { value: "list" }, "List active alerts"));
  const out = h("div");
  const draw = () => {
    const on = new Set(boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value));
    const now = Date.now();
    if (view.value === "list") {
      const order = (a) => STATES.indexOf(a.state);
      const shown = active.filter((a) => on.has(a.state)).sort((a, b) => order(a) - order(b));
      clear(out, shown.length ? alertsTable(shown, now) : alert("info", "No active alert in the chosen states."));
      return;
    }
    clear(out,
      all.length === 0 ? alert("info", "No alerting rules are loaded.") : null,
      groups.map((g) => {
        const shown = g.rules.filter((r) => on.has(r.state));
        return shown.length ? h("section", { dataset: { group: g.name } }, h("h2", null, g.name, " ", h("span", { class: "stats mono" }, g.file)),
          shown.map((r) => ruleSection(r, now))) : null;
      }));
  };
  for (const b of boxes) b.addEventListener("change", draw);
  view.addEventListener("change", draw);
  draw();
  clear(root, h("div", { class: "row" }, boxes, view), out);
});
