// /query: panels of an expression each, shown as a Table (instant query) or a Graph (range
// query), kept in the URL with Prometheus 3.x's parameters.
import { start } from "../app.js";
import { APIError, post } from "../api.js";
import { alert, clear, h } from "../dom.js";
import { formatDuration, formatTime, humanSeconds, parseDuration, parseTime } from "../format.js";
import { Sources } from "../query/complete.js";
import { errorBox, notes } from "../query/errors.js";
import { ExpressionInput } from "../query/expr.js";
import { Chart } from "../query/graph.js";
import { remember } from "../query/history.js";
import { MAX_ROWS, resultTable } from "../query/table.js";
import { decodePanels, effectiveStepMs, encodePanels, newPanel } from "../query/url.js";

// Range steps of the -/+ buttons (Prometheus' UI's).
const RANGES = ["1m", "5m", "15m", "30m", "1h", "2h", "6h", "12h", "1d", "2d", "1w", "2w", "4w", "8w", "26w", "1y"].map(parseDuration);

class Panel {
  constructor(page, state) {
    this.page = page;
    this.state = state;
    this.executed = state.expr;
    this.abort = null;
    this.chart = null;
    this.input = new ExpressionInput({ value: state.expr, sources: page.sources, onExecute: () => this.execute() });
    this.output = h("div", { class: "output" });
    this.tabs = {
      table: h("button", { type: "button", role: "tab", onclick: () => this.setTab("table") }, "Table"),
      graph: h("button", { type: "button", role: "tab", onclick: () => this.setTab("graph") }, "Graph"),
    };
    this.controls = h("div", { class: "row controls" });
    this.el = h("section", { class: "panel", "aria-label": "Query panel" },
      h("div", { class: "row" }, this.input.el,
        h("button", { type: "button", class: "primary", onclick: () => this.execute() }, "Execute")),
      h("div", { class: "row" }, h("div", { class: "tabs", role: "tablist" }, this.tabs.table, this.tabs.graph),
        h("span", { class: "grow" }),
        h("button", { type: "button", "aria-label": "Remove panel", title: "Remove panel", onclick: () => page.remove(this) }, "Remove")),
      this.controls, this.output);
    this.drawTabs();
  }

  setTab(tab) {
    this.state.tab = tab;
    this.drawTabs();
    this.page.save();
    this.run();
  }

  drawTabs() {
    for (const [name, button] of Object.entries(this.tabs)) button.setAttribute("aria-selected", String(name === this.state.tab));
    this.drawControls();
  }

  drawControls() {
    const s = this.state;
    const end = h("input", { type: "text", class: "mono", size: 19, placeholder: "now (UTC)", "aria-label": s.tab === "graph" ? "End time (UTC)" : "Evaluation time (UTC)", value: s.endMs === null ? "" : formatTime(s.endMs) });
    end.addEventListener("change", () => {
      const t = end.value.trim() ? parseTime(end.value) : null;
      if (t === null || Number.isFinite(t)) { s.endMs = t; this.changed(); } else end.setAttribute("aria-invalid", "true");
    });
    const shift = (sign) => () => { s.endMs = (s.endMs ?? Date.now()) + sign * (s.tab === "graph" ? s.rangeMs / 2 : 60000); this.changed(); };
    const timeControls = [
      h("button", { type: "button", "aria-label": "Earlier", onclick: shift(-1) }, "◀"), end,
      h("button", { type: "button", "aria-label": "Later", onclick: shift(1) }, "▶"),
      h("button", { type: "button", onclick: () => { s.endMs = null; this.changed(); } }, "Now"),
    ];
    if (s.tab === "table") { clear(this.controls, h("span", { class: "stats" }, "Evaluation time"), timeControls); return; }
    const range = h("input", { type: "text", class: "mono", size: 5, "aria-label": "Range", value: formatDuration(s.rangeMs) });
    range.addEventListener("change", () => {
      const ms = parseDuration(range.value);
      if (ms) { s.rangeMs = ms; this.changed(); } else range.setAttribute("aria-invalid", "true");
    });
    const stepRange = (dir) => () => {
      const i = RANGES.findIndex((r) => r >= s.rangeMs);
      const at = i < 0 ? RANGES.length - 1 : i;
      s.rangeMs = RANGES[Math.max(0, Math.min(RANGES.length - 1, RANGES[at] === s.rangeMs || dir < 0 ? at + dir : at))];
      this.changed();
    };
    const res = h("select", { "aria-label": "Resolution" },
      ["low", "medium", "high"].map((d) => h("option", { value: `auto:${d}` }, `Auto (${d} density)`)),
      h("option", { value: "custom" }, "Custom step"));
    res.value = s.resolution.type === "auto" ? `auto:${s.resolution.density}` : "custom";
    const step = h("input", { type: "text", class: "mono", size: 6, "aria-label": "Step", placeholder: "step",
      value: s.resolution.type === "auto" ? "" : formatDuration(s.resolution.stepMs), hidden: s.resolution.type === "auto" });
    res.addEventListener("change", () => {
      if (res.value.startsWith("auto:")) { s.resolution = { type: "auto", density: res.value.slice(5) }; this.changed(); return; }
      step.hidden = false;
      step.focus();
    });
    step.addEventListener("change", () => {
      const ms = parseDuration(step.value) || (parseFloat(step.value) > 0 ? parseFloat(step.value) * 1000 : null);
      if (ms) { s.resolution = { type: "custom", stepMs: ms }; this.changed(); } else step.setAttribute("aria-invalid", "true");
    });
    const mode = (m, text) => h("button", { type: "button", "aria-pressed": String(s.displayMode === m), onclick: () => { s.displayMode = m; this.changed(); } }, text);
    clear(this.controls,
      h("button", { type: "button", "aria-label": "Shorter range", onclick: stepRange(-1) }, "−"), range,
      h("button", { type: "button", "aria-label": "Longer range", onclick: stepRange(1) }, "+"),
      timeControls, res, step, mode("lines", "Lines"), mode("stacked", "Stacked"));
  }

  changed() {
    this.drawControls();
    this.page.save();
    this.run();
  }

  execute() {
    this.state.expr = this.input.value;
    this.executed = this.state.expr;
    remember(this.executed);
    this.page.save();
    this.run();
  }

  async run() {
    const expr = this.executed;
    if (this.abort) this.abort.abort();
    if (!expr.trim()) { clear(this.output, h("p", { class: "muted" }, "Enter an expression and press Enter or Execute.")); return; }
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.output.setAttribute("aria-busy", "true");
    const began = performance.now();
    const s = this.state;
    try {
      if (s.tab === "table") {
        const params = { query: expr };
        if (s.endMs !== null) params.time = s.endMs / 1000;
        const res = await post("/api/v1/query", params, signal);
        const n = Array.isArray(res.data.result) && res.data.resultType !== "scalar" && res.data.resultType !== "string" ? res.data.result.length : 1;
        const out = h("div");
        const stats = h("p", { class: "stats" }, `Load time: ${Math.round(performance.now() - began)}ms · Result series: ${n}`);
        const drawTable = (all) => clear(out, resultTable(res.data, all),
          !all && n > MAX_ROWS ? h("p", null, `Showing ${MAX_ROWS} of ${n} series. `, h("button", { type: "button", onclick: () => drawTable(true) }, "Show all")) : null);
        drawTable(false);
        this.input.textarea.removeAttribute("aria-invalid");
        this.destroyChart();
        clear(this.output, notes(res.warnings, res.infos), stats, n === 0 ? alert("info", "Empty query result") : out);
      } else {
        const endMs = s.endMs ?? Date.now();
        const startMs = endMs - s.rangeMs;
        const stepMs = effectiveStepMs(s);
        const res = await post("/api/v1/query_range", { query: expr, start: startMs / 1000, end: endMs / 1000, step: stepMs / 1000 }, signal);
        const fetched = performance.now();
        this.input.textarea.removeAttribute("aria-invalid");
        if (res.data.resultType !== "matrix") throw new APIError(`expected a range vector result, got ${res.data.resultType}`, "bad_data", 200);
        const stats = h("p", { class: "stats" });
        const box = h("div", { class: "graph" });
        clear(this.output, notes(res.warnings, res.infos), stats, res.data.result.length === 0 ? alert("info", "Empty query result") : box);
        this.destroyChart();
        if (res.data.result.length) {
          this.chart = new Chart(box, (t0, t1) => { s.rangeMs = Math.max(1000, t1 - t0); s.endMs = t1; this.changed(); });
          this.chart.draw(res.data.result, startMs, endMs, stepMs, s.displayMode === "stacked");
        }
        stats.textContent = `Load time: ${Math.round(fetched - began)}ms · Render time: ${Math.round(performance.now() - fetched)}ms · ` +
          `Resolution: ${humanSeconds(stepMs / 1000)} · Result series: ${res.data.result.length}`;
      }
    } catch (err) {
      if (err.name === "AbortError") return;
      this.destroyChart();
      this.input.textarea.setAttribute("aria-invalid", "true");
      clear(this.output, err instanceof APIError ? errorBox(err, expr, this.input) : alert("error", `Error: ${err.message}`));
    } finally {
      if (!signal.aborted) this.output.removeAttribute("aria-busy");
    }
  }

  destroyChart() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
  }
}

class QueryPage {
  constructor(root) {
    this.root = root;
    this.sources = new Sources();
    const states = decodePanels(location.search);
    this.list = h("div", { class: "panels" });
    this.panels = (states.length ? states : [newPanel()]).map((st) => new Panel(this, st));
    clear(root, this.list, h("button", { type: "button", onclick: () => this.add() }, "Add panel"));
    this.list.append(...this.panels.map((p) => p.el));
  }

  add() {
    const p = new Panel(this, newPanel());
    this.panels.push(p);
    this.list.append(p.el);
    p.run();
    p.input.textarea.focus();
    this.save();
  }

  remove(panel) {
    panel.destroyChart();
    panel.el.remove();
    this.panels = this.panels.filter((p) => p !== panel);
    if (!this.panels.length) this.add();
    this.save();
  }

  save() {
    const qs = encodePanels(this.panels.map((p) => ({ ...p.state, expr: p.executed })));
    history.replaceState(null, "", `${location.pathname}?${qs}`);
  }
}

// The page is ready once every panel's first query has been answered.
start(async (root) => {
  const page = new QueryPage(root);
  if (!page.panels.some((p) => p.executed)) page.panels[0].input.textarea.focus();
  await Promise.all(page.panels.map((p) => p.run()));
});
