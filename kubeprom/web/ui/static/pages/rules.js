// /rules: rule groups with each rule's query, health, last evaluation and error
// (/api/v1/rules, Prometheus' documented shape).
import { start } from "../app.js";
import { get } from "../api.js";
import { alert, badge, clear, h, labelBadges } from "../dom.js";
import { ago, humanSeconds, queryLink } from "../format.js";

function ruleItem(rule, now) {
  const alerting = rule.type === "alerting";
  return h("li", { class: "panel", dataset: { rule: rule.name } },
    h("div", { class: "row" },
      h("span", { class: "badge" }, alerting ? "alert" : "record"),
      h("strong", { class: "mono" }, rule.name),
      badge(rule.health, rule.health),
      h("span", { class: "stats" }, `evaluated ${ago(rule.lastEvaluation, now)} in ${humanSeconds(rule.evaluationTime)}`)),
    h("pre", null, h("a", { href: queryLink(rule.query) }, rule.query)),
    alerting && rule.duration ? h("div", { class: "stats" }, `for: ${humanSeconds(rule.duration)}`) : null,
    alerting && rule.keepFiringFor ? h("div", { class: "stats" }, `keep_firing_for: ${humanSeconds(rule.keepFiringFor)}`) : null,
    rule.labels && Object.keys(rule.labels).length ? h("div", { class: "row" }, "labels:", labelBadges(rule.labels)) : null,
    rule.lastError ? alert("error", h("strong", null, "Error: "), rule.lastError) : null);
}

start(async (root) => {
  const { data } = await get("/api/v1/rules");
  const groups = data.groups || [];
  const out = h("div");
  const health = h("select", { "aria-label": "Health" },
    h("option", { value: "" }, "Any health"), h("option", { value: "ok" }, "ok"),
    h("option", { value: "err" }, "err"), h("option", { value: "unknown" }, "unknown"));
  const search = h("input", { type: "search", class: "grow", placeholder: "Filter by rule name or query", "aria-label": "Filter rules", "data-search": true });
  const draw = () => {
    const q = search.value.toLowerCase();
    const now = Date.now();
    const shown = groups.map((g) => ({ ...g, rules: g.rules.filter((r) => (!health.value || r.health === health.value) &&
      (!q || r.name.toLowerCase().includes(q) || r.query.toLowerCase().includes(q))) })).filter((g) => g.rules.length);
    clear(out,
      groups.length === 0 ? alert("info", "No rule groups are loaded.") :
        shown.length === 0 ? alert("info", "No rule matches the filter.") : null,
      shown.map((g) => h("details", { class: "group", open: true, dataset: { group: g.name } },
        h("summary", null, h("strong", null, g.name), h("span", { class: "stats mono" }, g.file),
          h("span", { class: "stats" }, `interval ${humanSeconds(g.interval)}`),
          h("span", { class: "stats" }, `last evaluation ${ago(g.lastEvaluation, now)}, took ${humanSeconds(g.evaluationTime)}`)),
        h("ul", { class: "body", style: { listStyle: "none", paddingLeft: ".8rem" } }, g.rules.map((r) => ruleItem(r, now))))));
  };
  health.addEventListener("change", draw);
  search.addEventListener("input", draw);
  draw();
  clear(root, h("div", { class: "row" }, health, search), out);
});
