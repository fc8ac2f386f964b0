// Building DOM without innerHTML: every string becomes a text node, so data from the API
// can never turn into markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key === "value" || key === "checked") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function alert(kind, ...children) {
  return h("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

export function labelBadges(labels, skipName = false) {
  const names = Object.keys(labels).filter((n) => !(skipName && n === "__name__")).sort();
  return h("span", { class: "labels" }, names.map((n) => h("span", { class: "label mono" }, `${n}="${labels[n]}"`)));
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || text}` }, text);
}

export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

// A table: columns are [header, cell(row) -> Node|string, {num: true}] entries.
export function table(columns, rows, attrs) {
  return h("div", { class: "scroll" },
    h("table", { class: "data", ...attrs },
      h("thead", null, h("tr", null, columns.map(([name]) => h("th", { scope: "col" }, name)))),
      h("tbody", null, rows.map((row) =>
        h("tr", null, columns.map(([, cell, opts]) => h("td", opts && opts.num ? { class: "num" } : null, cell(row))))))));
}
