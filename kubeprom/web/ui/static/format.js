// Formatting and parsing of times, durations, numbers and label sets, as Prometheus writes them.

const UNITS = [["y", 365 * 86400000], ["w", 7 * 86400000], ["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000], ["ms", 1]];
const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

// "1h30m" -> 5400000; null when it is not a Prometheus duration.
export function parseDuration(text) {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim() === "") return null;
  let ms = 0;
  UNITS.forEach(([, size], i) => { if (m[i + 1]) ms += Number(m[i + 1]) * size; });
  return ms;
}

export function formatDuration(ms) {
  if (ms === 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) { out += `${n}${unit}`; rest -= n * size; }
  }
  return out;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

// UTC "YYYY-MM-DD HH:mm:ss", the form of Prometheus' end_input / moment_input URL values.
export function formatTime(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

// The inverse of formatTime (also RFC 3339); NaN when unreadable.
export function parseTime(text) {
  const t = text.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/.exec(t);
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), Math.round(parseFloat(m[7] || "0") * 1000));
  return Date.parse(t);
}

// Seconds as a short human duration: 0.0123 -> "12.3ms", 75 -> "1m 15s".
export function humanSeconds(s) {
  if (!Number.isFinite(s)) return String(s);
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)}µs`;
  if (s < 1) return `${+(s * 1e3).toFixed(1)}ms`;
  if (s < 60) return `${+s.toFixed(2)}s`;
  const parts = [];
  let rest = Math.round(s);
  for (const [u, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    const n = Math.floor(rest / size);
    if (n) { parts.push(`${n}${u}`); rest -= n * size; }
  }
  return parts.join(" ");
}

// "3.2s ago" for an RFC 3339 time; "never" for Go's zero time.
export function ago(rfc3339, now = Date.now()) {
  const t = Date.parse(rfc3339);
  if (!Number.isFinite(t) || t <= 0) return "never";
  const s = (now - t) / 1000;
  return s < 0 ? `in ${humanSeconds(-s)}` : `${humanSeconds(s)} ago`;
}

export function localTime(rfc3339) {
  const t = Date.parse(rfc3339);
  return Number.isFinite(t) && t > 0 ? new Date(t).toLocaleString() : "never";
}

function quote(v) {
  return JSON.stringify(v);
}

// name{a="b", c="d"}; labels sorted, __name__ first as the name.
export function formatSeries(metric) {
  const name = metric.__name__ || "";
  const rest = Object.keys(metric).filter((k) => k !== "__name__").sort();
  if (rest.length === 0) return name || "{}";
  return `${name}{${rest.map((k) => `${k}=${quote(metric[k])}`).join(", ")}}`;
}

// Axis and tooltip numbers: SI prefixes for large and small magnitudes, 4 significant digits.
const SI = [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
export function formatNumber(v) {
  if (v === null || v === undefined) return "";
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
  const a = Math.abs(v);
  for (const [size, p] of SI) if (a >= size) return `${+(v / size).toPrecision(4)}${p}`;
  if (a !== 0 && a < 1e-3) return v.toExponential(3);
  return String(+v.toPrecision(4));
}

// A sample value string from the API as a number ("+Inf", "NaN" included).
export function sampleValue(text) {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

// A link to the query page with one panel.
export function queryLink(expr, tab = "table") {
  return `/query?g0.expr=${encodeURIComponent(expr)}&g0.tab=${tab}`;
}
