// The Graph tab's chart: a range query's matrix drawn with uPlot (loaded by the page from
// the installed uPlot distribution), a legend of each series' labels (click isolates a
// series, Ctrl/Cmd+click toggles it), values on hover and zoom by selecting a time span.
import { h } from "../dom.js";
import { formatNumber, formatSeries, sampleValue } from "../format.js";

const HEIGHT = 360;
// Past this many points, hovering does not re-draw the chart to highlight the nearest series.
const FOCUS_MAX_POINTS = 100000;

export function color(i) {
  return `hsl(${(i * 137.508) % 360}, 62%, 48%)`;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// The matrix on a dense grid of steps: x in seconds, each series null where it has no sample.
export function toColumns(result, startMs, endMs, stepMs) {
  const n = Math.floor((endMs - startMs) / stepMs) + 1;
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = (startMs + i * stepMs) / 1000;
  const ys = result.map((s) => {
    const col = new Array(n).fill(null);
    for (const [t, v] of s.values) {
      const i = Math.round((t * 1000 - startMs) / stepMs);
      const x = sampleValue(v);
      if (i >= 0 && i < n && Number.isFinite(x)) col[i] = x;
    }
    return col;
  });
  return { xs, ys };
}

// Each shown series stacked on the shown ones before it.
function stack(ys, shown) {
  const n = ys.length ? ys[0].length : 0;
  const sum = new Float64Array(n);
  return ys.map((col, k) => {
    if (!shown[k]) return col;
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = col[i];
      if (v === null) { out[i] = null; continue; }
      sum[i] += v;
      out[i] = sum[i];
    }
    return out;
  });
}

export class Chart {
  // onZoom(startMs, endMs) is called with a selected span.
  constructor(container, onZoom) {
    this.container = container;
    this.onZoom = onZoom;
    this.plot = null;
    this.tooltip = h("div", { class: "tooltip", hidden: true, role: "status" });
    this.canvasBox = h("div", { class: "chart" });
    this.legend = h("div", { class: "legend", role: "group", "aria-label": "Series" });
    container.replaceChildren(this.canvasBox, this.legend);
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: HEIGHT });
    });
    this.resize.observe(container);
    this.onTheme = () => this.data && this.render();
    document.addEventListener("kubeprom:theme", this.onTheme);
  }

  width() {
    return Math.max(200, this.container.clientWidth);
  }

  destroy() {
    this.resize.disconnect();
    document.removeEventListener("kubeprom:theme", this.onTheme);
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  // result: the matrix of /api/v1/query_range; stacked: draw cumulative areas.
  draw(result, startMs, endMs, stepMs, stacked) {
    const { xs, ys } = toColumns(result, startMs, endMs, stepMs);
    this.data = { result, xs, ys, startMs, endMs, stacked };
    this.shown = result.map(() => true);
    this.render();
    this.drawLegend();
  }

  columns() {
    const { xs, ys, stacked } = this.data;
    return [xs, ...(stacked ? stack(ys, this.shown) : ys)];
  }

  render() {
    if (typeof uPlot === "undefined") throw new Error("the chart library (uPlot) is not installed: pip install metaflow-card-uplot");
    if (this.plot) this.plot.destroy();
    const { result, ys, startMs, endMs, stacked } = this.data;
    const points = ys.length * (ys[0] ? ys[0].length : 0);
    const axis = cssVar("--axis");
    const grid = { stroke: cssVar("--grid"), width: 1 };
    const axes = [
      { stroke: axis, grid, ticks: grid },
      { stroke: axis, grid, ticks: grid, size: 64, values: (u, splits) => splits.map(formatNumber) },
    ];
    const series = [{}, ...result.map((s, i) => ({
      label: formatSeries(s.metric),
      stroke: color(i),
      width: 1.25,
      show: this.shown[i],
      fill: stacked ? color(i).replace("hsl", "hsla").replace(")", ", 0.35)") : undefined,
    }))];
    const bands = [];
    if (stacked) {
      let below = null;
      this.shown.forEach((on, i) => { if (on) { if (below !== null) bands.push({ series: [i + 1, below + 1] }); below = i; } });
    }
    const opts = {
      width: this.width(),
      height: HEIGHT,
      series,
      axes,
      bands,
      legend: { show: false },
      scales: { x: { time: true, range: () => [startMs / 1000, endMs / 1000] } },
      cursor: {
        drag: { x: true, y: false, setScale: false },
        focus: { prox: points <= FOCUS_MAX_POINTS ? 24 : -1 },
        // uPlot 1.6 takes a function making each hover point's element; none for big charts.
        ...(points <= FOCUS_MAX_POINTS ? {} : { points: { show: () => null } }),
      },
      focus: { alpha: 0.35 },
      hooks: {
        setSelect: [(u) => this.selected(u)],
        setCursor: [(u) => this.hover(u)],
      },
    };
    this.plot = new uPlot(opts, this.columns(), this.canvasBox);
    this.canvasBox.append(this.tooltip);
    this.container.dataset.series = String(result.length);
  }

  selected(u) {
    const { left, width } = u.select;
    if (width < 3) return;
    const t0 = u.posToVal(left, "x") * 1000;
    const t1 = u.posToVal(left + width, "x") * 1000;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.onZoom(Math.round(t0), Math.round(t1));
  }

  // The tooltip: the time and the shown series nearest the cursor, with its own value.
  hover(u) {
    const idx = u.cursor.idx;
    if (idx === null || idx === undefined || u.cursor.left < 0) { this.tooltip.hidden = true; return; }
    const { ys, xs, result } = this.data;
    const cols = u.data;
    let best = -1;
    let bestDist = Infinity;
    for (let k = 0; k < ys.length; k++) {
      if (!this.shown[k]) continue;
      const v = cols[k + 1][idx];
      if (v === null || v === undefined) continue;
      const d = Math.abs(u.valToPos(v, "y") - u.cursor.top);
      if (d < bestDist) { bestDist = d; best = k; }
    }
    if (best < 0) { this.tooltip.hidden = true; return; }
    const when = new Date(xs[idx] * 1000);
    this.tooltip.replaceChildren(
      h("div", { class: "stats" }, when.toLocaleString()),
      h("div", { class: "row", style: { margin: "0" } }, h("span", { class: "swatch", style: { background: color(best) } }),
        h("strong", { class: "mono" }, formatNumber(ys[best][idx]))),
      h("div", { class: "mono" }, formatSeries(result[best].metric)));
    this.tooltip.hidden = false;
    const x = u.cursor.left + u.over.offsetLeft;
    const flip = x > u.over.clientWidth * 0.6;
    this.tooltip.style.left = flip ? "" : `${x + 14}px`;
    this.tooltip.style.right = flip ? `${this.canvasBox.clientWidth - x + 14}px` : "";
    this.tooltip.style.top = `${u.cursor.top + u.over.offsetTop + 10}px`;
  }

  drawLegend() {
    const { result } = this.data;
    this.legend.replaceChildren(...result.map((s, i) => h("button", {
      type: "button", class: this.shown[i] ? "" : "off", "aria-pressed": String(this.shown[i]), dataset: { index: i },
      onclick: (ev) => this.toggle(i, ev.ctrlKey || ev.metaKey),
    }, h("span", { class: "swatch", style: { background: color(i) } }), h("span", { class: "mono" }, formatSeries(s.metric)))));
  }

  // Click: show only series i (again: show all). Ctrl/Cmd+click: toggle series i.
  toggle(i, ctrl) {
    if (ctrl) {
      this.shown[i] = !this.shown[i];
    } else {
      const alone = this.shown[i] && this.shown.filter(Boolean).length === 1;
      this.shown = this.shown.map((_, k) => alone || k === i);
    }
    if (this.data.stacked) {
      this.render();
    } else {
      this.plot.batch(() => this.shown.forEach((on, k) => this.plot.setSeries(k + 1, { show: on })));
    }
    [...this.legend.children].forEach((b, k) => {
      b.classList.toggle("off", !this.shown[k]);
      b.setAttribute("aria-pressed", String(this.shown[k]));
    });
  }
}
