// Executed expressions, newest first, kept in the browser (localStorage).
const KEY = "kubeprom.history";
const MAX = 50;

export function loadHistory() {
  try {
    const items = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(items) ? items.filter((x) => typeof x === "string") : [];
  } catch (err) {
    return [];
  }
}

export function remember(expr) {
  const text = expr.trim();
  if (!text) return;
  const items = [text, ...loadHistory().filter((x) => x !== text)].slice(0, MAX);
  try { localStorage.setItem(KEY, JSON.stringify(items)); } catch (err) { /* storage off */ }
}
