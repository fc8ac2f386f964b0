// What to complete at the cursor of a PromQL expression, and the candidates for it.
// completionContext() is pure (tested in the browser); Sources fetches and caches the
// server's metric names, label names and values, and PromQL's words (/ui/api/words).
import { get } from "../api.js";

const IDENT_START = /[A-Za-z_:]/;
const IDENT = /[A-Za-z0-9_:]/;
const MATCH_OPS = new Set(["=", "!=", "=~", "!~"]);
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
export const DURATIONS = ["1m", "5m", "10m", "15m", "30m", "1h", "3h", "6h", "12h", "1d", "1w"];

// Tokens of PromQL text; an unterminated string at the end is a token with closed=false.
export function tokens(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === "#") {
      const nl = text.indexOf("\n", i);
      const end = nl < 0 ? text.length : nl;
      out.push({ type: "comment", text: text.slice(i, end), start: i, end });
      i = end;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      let closed = false;
      while (j < text.length) {
        if (text[j] === "\\" && c !== "`") { j += 2; continue; }
        if (text[j] === c) { closed = true; j++; break; }
        j++;
      }
      j = Math.min(j, text.length);
      out.push({ type: "string", text: text.slice(i, j), start: i, end: j, closed, quote: c });
      i = j;
      continue;
    }
    let j = i;
    if (IDENT_START.test(c)) {
      while (j < text.length && IDENT.test(text[j])) j++;
      out.push({ type: "ident", text: text.slice(i, j), start: i, end: j });
    } else if (/[0-9.]/.test(c)) {
      while (j < text.length && /[0-9A-Za-z.]/.test(text[j])) j++;
      out.push({ type: "number", text: text.slice(i, j), start: i, end: j });
    } else {
      const two = text.slice(i, i + 2);
      j = i + (["==", "!=", ">=", "<=", "=~", "!~"].includes(two) ? 2 : 1);
      out.push({ type: "op", text: text.slice(i, j), start: i, end: j });
    }
    i = j;
  }
  return out;
}

// The open brackets before the cursor, innermost last; "{" knows its metric name, "(" whether
// it holds a grouping label list (by, without, on, ignoring, group_left, group_right).
function openBrackets(toks) {
  const stack = [];
  toks.forEach((t, i) => {
    if (t.type !== "op") return;
    if ("([{".includes(t.text)) {
      const before = toks[i - 1];
      const word = before && before.type === "ident" ? before.text : null;
      stack.push({ bracket: t.text, metric: t.text === "{" && word && !GROUPING.has(word) ? word : null, grouping: t.text === "(" && GROUPING.has(word) });
    } else if (")]}".includes(t.text)) {
      stack.pop();
    }
  });
  return stack;
}

function endsOperand(t) {
  return t.type === "ident" || t.type === "number" || t.type === "string" || (t.type === "op" && ")]}".includes(t.text));
}

// {kind, prefix, from, ...}: kind is "expr" (metric names, functions, operators, keywords),
// "label_name" (with the selector's metric), "label_value" (label, metric, the open quote),
// "duration" or "none". prefix is what is typed of the word; from where it starts.
export function completionContext(text, pos) {
  const all = tokens(text.slice(0, pos));
  if (all.length && all[all.length - 1].type === "comment" && all[all.length - 1].end === pos) return { kind: "none" };
  const toks = all.filter((t) => t.type !== "comment");
  const last = toks[toks.length - 1];
  if (last && last.type === "string") {
    if (last.closed) return { kind: "none" };
    const op = toks[toks.length - 2];
    const name = toks[toks.length - 3];
    const top = openBrackets(toks.slice(0, -1)).pop();
    if (top && top.bracket === "{" && op && op.type === "op" && MATCH_OPS.has(op.text) && name && name.type === "ident") {
      return { kind: "label_value", label: name.text, metric: top.metric, prefix: text.slice(last.start + 1, pos), from: last.start + 1, quote: last.quote };
    }
    return { kind: "none" };
  }
  let prefix = "";
  let from = pos;
  if (last && (last.type === "ident" || last.type === "number") && last.end === pos) {
    prefix = last.text;
    from = last.start;
    toks.pop();
  }
  const prev = toks[toks.length - 1];
  const top = openBrackets(toks).pop();
  if (top && top.bracket === "[") return { kind: "duration", prefix, from };
  if (top && top.bracket === "{") {
    if (prev && prev.type === "op" && MATCH_OPS.has(prev.text)) {
      const name = toks[toks.length - 2];
      return { kind: "label_value", label: name && name.type === "ident" ? name.text : "", metric: top.metric, prefix, from, quote: null };
    }
    if (prev && prev.type === "ident") return { kind: "none" }; // a label name is followed by an operator
    return { kind: "label_name", metric: top.metric, prefix, from };
  }
  if (top && top.bracket === "(" && top.grouping) return { kind: "label_name", metric: null, prefix, from };
  if (/^[0-9.]/.test(prefix)) return { kind: "none" };
  return { kind: "expr", prefix, from, afterOperand: Boolean(prev && endsOperand(prev)) };
}

function escapeFor(quote, value) {
  if (quote === "`") return value;
  const json = JSON.stringify(value).slice(1, -1);
  return quote === "'" ? json.replace(/\\"/g, '"').replace(/'/g, "\\'") : json;
}

// Candidates are {label, insert, kind, detail}; insert replaces text[from, pos).
function rank(items, prefix) {
  const p = prefix.toLowerCase();
  const starts = [];
  const contains = [];
  for (const it of items) {
    const l = it.label.toLowerCase();
    if (l.startsWith(p)) starts.push(it);
    else if (p && l.includes(p)) contains.push(it);
  }
  return [...starts, ...contains];
}

export class Sources {
  constructor() {
    this.cache = new Map();
  }

  fetchOnce(key, load) {
    if (!this.cache.has(key)) this.cache.set(key, load().catch((err) => { this.cache.delete(key); throw err; }));
    return this.cache.get(key);
  }

  metricNames() { return this.fetchOnce("metrics", async () => (await get("/api/v1/label/__name__/values")).data); }
  words() { return this.fetchOnce("words", async () => (await get("/ui/api/words")).data); }
  labelNames(metric) {
    return this.fetchOnce(`labels:${metric || ""}`, async () => (await get("/api/v1/labels", metric ? { "match[]": metric } : {})).data);
  }
  labelValues(label, metric) {
    return this.fetchOnce(`values:${label}:${metric || ""}`, async () =>
      (await get(`/api/v1/label/${encodeURIComponent(label)}/values`, metric ? { "match[]": metric } : {})).data);
  }

  // Up to `limit` candidates for ctx (from completionContext) and the whole text.
  async candidates(ctx, text, history, limit = 60) {
    if (ctx.kind === "expr") {
      const [metrics, words] = await Promise.all([this.metricNames(), this.words()]);
      const hist = history.filter((h) => h !== text && h.toLowerCase().startsWith(text.trim().toLowerCase()))
        .slice(0, 5).map((h) => ({ label: h, insert: h, kind: "history", whole: true }));
      const kw = words.keywords.map((k) => ({ label: k, insert: `${k} `, kind: "keyword" }));
      const items = [
        ...words.aggregations.map((a) => ({ label: a.name, insert: a.name, kind: "aggregation", detail: a.param ? `${a.name}(${a.param}, v)` : `${a.name}(v)` })),
        ...words.functions.map((f) => ({ label: f.name, insert: `${f.name}(`, kind: "function", detail: `${f.name}(${f.args})` })),
        ...metrics.map((m) => ({ label: m, insert: m, kind: "metric" })),
      ];
      const ranked = ctx.afterOperand ? [...rank(kw, ctx.prefix), ...rank(items, ctx.prefix)] : [...rank(items, ctx.prefix), ...rank(kw, ctx.prefix)];
      return [...(ctx.prefix || text.trim() ? hist : history.slice(0, 10).map((h) => ({ label: h, insert: h, kind: "history", whole: true }))), ...ranked].slice(0, limit);
    }
    if (ctx.kind === "label_name") {
      const names = await this.labelNames(ctx.metric);
      return rank(names.filter((n) => n !== "__name__").map((n) => ({ label: n, insert: n, kind: "label" })), ctx.prefix).slice(0, limit);
    }
    if (ctx.kind === "label_value") {
      const values = ctx.label ? await this.labelValues(ctx.label, ctx.metric) : [];
      return rank(values.map((v) => ({
        label: v,
        insert: ctx.quote ? escapeFor(ctx.quote, v) + ctx.quote : JSON.stringify(v),
        kind: "value",
        closesQuote: Boolean(ctx.quote),
      })), ctx.prefix).slice(0, limit);
    }
    if (ctx.kind === "duration") return rank(DURATIONS.map((d) => ({ label: d, insert: d, kind: "duration" })), ctx.prefix);
    return [];
  }
}
