// The query page's state in the URL, with Prometheus 3.x's parameter names, so a link
// reproduces the panels: g0.expr, g0.tab (table|graph; 0/1 from 2.x), g0.range_input,
// g0.end_input / g0.moment_input, g0.res_type + g0.res_density | g0.res_step (legacy
// g0.step_input), g0.display_mode (lines|stacked; legacy g0.stacked).
import { formatDuration, formatTime, parseDuration, parseTime } from "../format.js";

const DENSITY = { low: 100, medium: 250, high: 750 };
export const DEFAULT_RANGE_MS = 3600 * 1000;

export function newPanel(expr = "") {
  return { expr, tab: "table", rangeMs: DEFAULT_RANGE_MS, endMs: null, resolution: { type: "auto", density: "medium" }, displayMode: "lines" };
}

export function decodePanels(search) {
  const params = new URLSearchParams(search);
  const panels = [];
  for (let i = 0; params.has(`g${i}.expr`); i++) {
    const get = (name) => params.get(`g${i}.${name}`);
    const p = newPanel(get("expr"));
    const tab = get("tab");
    if (tab === "0" || tab === "graph") p.tab = "graph";
    else if (tab === "1" || tab === "table") p.tab = "table";
    const mode = get("display_mode");
    if (mode === "lines" || mode === "stacked") p.displayMode = mode;
    const stacked = get("stacked");
    if (stacked !== null) p.displayMode = stacked === "1" ? "stacked" : "lines";
    const range = get("range_input");
    if (range !== null) p.rangeMs = parseDuration(range) || p.rangeMs;
    for (const name of ["end_input", "moment_input"]) {
      const text = get(name);
      if (text) {
        const t = parseTime(text);
        if (Number.isFinite(t)) p.endMs = t;
      }
    }
    const step = get("step_input");
    if (step !== null && parseInt(step, 10) > 0) p.resolution = { type: "custom", stepMs: parseInt(step, 10) * 1000 };
    const resType = get("res_type");
    if (resType === "auto" && get("res_density") in DENSITY) p.resolution = { type: "auto", density: get("res_density") };
    if ((resType === "fixed" || resType === "custom") && parseFloat(get("res_step")) > 0) {
      p.resolution = { type: resType, stepMs: parseFloat(get("res_step")) * 1000 };
    }
    panels.push(p);
  }
  return panels;
}

export function encodePanels(panels) {
  const params = new URLSearchParams();
  panels.forEach((p, i) => {
    const add = (name, value) => params.append(`g${i}.${name}`, value);
    add("expr", p.expr);
    add("tab", p.tab);
    if (p.endMs !== null) {
      add("end_input", formatTime(p.endMs));
      add("moment_input", formatTime(p.endMs));
    }
    add("range_input", formatDuration(p.rangeMs));
    if (p.resolution.type === "auto") {
      add("res_type", "auto");
      add("res_density", p.resolution.density);
    } else {
      add("res_type", p.resolution.type);
      add("res_step", String(p.resolution.stepMs / 1000));
    }
    add("display_mode", p.displayMode);
  });
  return params;
}

// The range query's step in ms (Prometheus 3.x's getEffectiveResolution).
export function effectiveStepMs(panel) {
  if (panel.resolution.type === "auto") return Math.max(Math.floor(panel.rangeMs / DENSITY[panel.resolution.density]), 1);
  return panel.resolution.stepMs;
}
