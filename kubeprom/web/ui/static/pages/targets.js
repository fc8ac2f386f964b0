// /targets: each scrape pool's targets with endpoint, labels, health, last scrape, duration
// and error (/api/v1/targets), filterable by health and text.
import { start } from "../app.js";
import { get } from "../api.js";
import { alert, badge, clear, h, labelBadges, table } from "../dom.js";
import { ago, humanSeconds } from "../format.js";

const HEALTH = ["up", "down", "unknown"];

function poolSection(pool, targets, now) {
  const up = targets.filter((t) => t.health === "up").length;
  return h("details", { class: "group", open: true, dataset: { pool } },
    h("summary", null, h("strong", null, pool),
      h("span", { class: `badge ${up === targets.length ? "up" : "down"}` }, `${up} / ${targets.length} up`)),
    h("div", { class: "body" },
      table([
        ["Endpoint", (t) => h("a", { href: t.scrapeUrl, rel: "noreferrer" }, t.scrapeUrl)],
        ["Labels", (t) => labelBadges(t.labels)],
        ["Health", (t) => badge(t.health)],
        ["Last scrape", (t) => h("span", { title: t.lastScrape }, ago(t.lastScrape, now))],
        ["Duration", (t) => humanSeconds(t.lastScrapeDuration), { num: true }],
        ["Error", (t) => (t.lastError ? h("span", { class: "caret mono" }, t.lastError) : "")],
      ], targets, { dataset: { targets: pool } })));
}

start(async (root) => {
  const { data } = await get("/api/v1/targets", { state: "active" });
  const targets = data.activeTargets;
  const out = h("div");
  const health = h("select", { "aria-label": "Health" },
    h("option", { value: "" }, "Any health"),
    HEALTH.map((x) => h("option", { value: x }, x === "up" ? "Healthy (up)" : x === "down" ? "Unhealthy (down)" : "Unknown")));
  const search = h("input", { type: "search", class: "grow", placeholder: "Filter by endpoint or labels", "aria-label": "Filter targets", "data-search": true });
  const params = new URLSearchParams(location.search);
  health.value = params.get("health") || "";
  search.value = params.get("search") || "";
  const draw = () => {
    const q = search.value.toLowerCase();
    const shown = targets.filter((t) => (!health.value || t.health === health.value) &&
      (!q || t.scrapeUrl.toLowerCase().includes(q) ||
        Object.entries(t.labels).some(([k, v]) => `${k}="${v}"`.toLowerCase().includes(q))));
    const pools = new Map();
    for (const t of shown) {
      if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
      pools.get(t.scrapePool).push(t);
    }
    const now = Date.now();
    clear(out,
      h("p", { class: "stats" }, `${shown.length} of ${targets.length} targets in ${pools.size} scrape pools`),
      pools.size === 0 ? alert("info", targets.length ? "No target matches the filter." : "No targets are being scraped.") : null,
      [...pools.keys()].sort().map((p) => poolSection(p, pools.get(p), now)));
    const url = new URL(location.href);
    for (const [k, v] of [["health", health.value], ["search", search.value]]) v ? url.searchParams.set(k, v) : url.searchParams.delete(k);
    history.replaceState(null, "", url);
  };
  health.addEventListener("change", draw);
  search.addEventListener("input", draw);
  draw();
  clear(root, h("div", { class: "row" }, health, search), out);
});
