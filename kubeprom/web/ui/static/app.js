// What every page shares: the theme switch, keyboard shortcuts, and start(), which draws a
// page and marks it ready (data-ready on <body>, a "kubeprom:ready" performance mark).

import { alert, clear } from "./dom.js";

const THEME_KEY = "kubeprom.theme";

function setupTheme() {
  const select = document.getElementById("theme-select");
  if (!select) return;
  select.value = document.documentElement.getAttribute("data-theme") || "auto";
  select.addEventListener("change", () => {
    document.documentElement.setAttribute("data-theme", select.value);
    try { localStorage.setItem(THEME_KEY, select.value); } catch (e) { /* storage off */ }
    document.dispatchEvent(new CustomEvent("kubeprom:theme"));
  });
}

function setupKeys() {
  // "/" focuses the first search or expression box, as in many dashboards.
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
    const box = document.querySelector("[data-search]");
    if (box) { ev.preventDefault(); box.focus(); }
  });
}

export function ready() {
  if (document.body.dataset.ready) return;
  document.body.dataset.ready = "1";
  performance.mark("kubeprom:ready");
}

// Runs render(root) for the page's content area; shows its failure in place.
export async function start(render) {
  setupTheme();
  setupKeys();
  const root = document.getElementById("page");
  try {
    await render(root);
  } catch (err) {
    clear(root, alert("error", `Error: ${err.message}`));
  }
  ready();
}

// Re-runs load() every interval_ms while the page is visible; returns a stop function.
export function every(intervalMs, load) {
  let timer = null;
  const tick = async () => {
    if (document.visibilityState === "visible") await load();
    timer = setTimeout(tick, intervalMs);
  };
  timer = setTimeout(tick, intervalMs);
  return () => clearTimeout(timer);
}
