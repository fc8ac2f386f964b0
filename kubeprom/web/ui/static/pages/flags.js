// /flags: the command-line flags (/api/v1/status/flags), filterable.
import { start } from "../app.js";
import { get } from "../api.js";
import { clear, h, table } from "../dom.js";

start(async (root) => {
  const { data } = await get("/api/v1/status/flags");
  const rows = Object.entries(data).sort(([a], [b]) => a.localeCompare(b));
  const out = h("div");
  const filter = h("input", { type: "search", placeholder: "Filter by flag name or value", "aria-label": "Filter flags", "data-search": true, class: "grow" });
  const draw = () => {
    const q = filter.value.toLowerCase();
    const shown = rows.filter(([k, v]) => k.toLowerCase().includes(q) || v.toLowerCase().includes(q));
    clear(out, table([["Flag", ([k]) => h("code", null, `--${k}`)], ["Value", ([, v]) => h("code", null, v)]], shown));
  };
  filter.addEventListener("input", draw);
  draw();
  clear(root, h("div", { class: "row" }, filter), out);
});
