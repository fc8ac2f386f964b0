// /top: `kubeprom top node` and `kubeprom top pod` as tables (/ui/api/top, the same PromQL
// and arithmetic as the command), refreshing.
import { every, start } from "../app.js";
import { APIError, get } from "../api.js";
import { alert, clear, h } from "../dom.js";
import { queryLink } from "../format.js";

const REFRESH = [["0", "Off"], ["5000", "5s"], ["15000", "15s"], ["30000", "30s"], ["60000", "1m"]];

// A checkbox inside its label (the label is its parentElement).
function checkbox(name, text) {
  const input = h("input", { type: "checkbox", name });
  h("label", null, input, " ", text);
  return input;
}

function section(resource, title, controls) {
  const out = h("div", { "aria-live": "polite" });
  const sort = h("select", { "aria-label": `Sort ${resource}s by` },
    h("option", { value: "" }, "Sort by name"), h("option", { value: "cpu" }, "Sort by CPU"), h("option", { value: "memory" }, "Sort by memory"));
  const load = async () => {
    const params = { resource, sort_by: sort.value };
    for (const [k, el] of Object.entries(controls)) params[k] = el.type === "checkbox" ? (el.checked ? "1" : "0") : el.value;
    try {
      const { data } = await get("/ui/api/top", params);
      const t = new Date(data.time * 1000);
      clear(out,
        h("div", { class: "scroll" }, h("table", { class: "data mono", dataset: { top: resource } },
          h("thead", null, h("tr", null, data.columns.map((c) => h("th", { scope: "col", class: c.includes("(") ? "num" : null }, c)))),
          h("tbody", null, data.rows.map((r) => h("tr", null, r.map((c, i) => h("td", i && /^[\d<]/.test(c) ? { class: "num" } : null, c))))))),
        data.notice ? alert("info", data.notice) : null,
        h("details", null, h("summary", { class: "stats" }, `at ${t.toLocaleTimeString()}; PromQL`),
          h("ul", null, data.queries.map((q) => h("li", null, h("a", { class: "mono", href: queryLink(q, "graph") }, q))))));
    } catch (err) {
      clear(out, alert("error", err instanceof APIError ? err.message : `Error: ${err.message}`));
    }
  };
  for (const el of [sort, ...Object.values(controls)]) el.addEventListener("change", load);
  return { load, node: h("section", { "aria-labelledby": `${resource}-h` },
    h("h2", { id: `${resource}-h` }, title),
    h("div", { class: "row" }, sort, Object.values(controls).map((el) => (el.type === "checkbox" ? el.parentElement : el))), out) };
}

start(async (root) => {
  const nodeWide = checkbox("wide", "wide (requests, limits)");
  const capacity = checkbox("show_capacity", "% of capacity");
  const podWide = checkbox("wide", "wide");
  const containers = checkbox("containers", "containers");
  const util = checkbox("utilization", "% of requests and limits");
  const namespace = h("input", { type: "search", name: "namespace", placeholder: "namespace (empty: all)", "aria-label": "Namespace", "data-search": true });
  const nodes = section("node", "Nodes", { wide: nodeWide, show_capacity: capacity });
  const pods = section("pod", "Pods", { namespace, containers, wide: podWide, utilization: util });
  const refresh = h("select", { "aria-label": "Refresh every" }, REFRESH.map(([v, t]) => h("option", { value: v }, `Refresh: ${t}`)));
  refresh.value = "15000";
  let stop = () => {};
  const schedule = () => {
    stop();
    const ms = Number(refresh.value);
    if (ms) stop = every(ms, () => Promise.all([nodes.load(), pods.load()]));
  };
  refresh.addEventListener("change", schedule);
  const now = h("button", { type: "button", onclick: () => Promise.all([nodes.load(), pods.load()]) }, "Refresh now");
  clear(root, h("div", { class: "row" }, refresh, now,
    h("span", { class: "stats" }, "what ", h("code", null, "kubeprom top node"), " and ", h("code", null, "kubeprom top pod -A"), " print")),
  nodes.node, pods.node);
  await Promise.all([nodes.load(), pods.load()]);
  schedule();
});
