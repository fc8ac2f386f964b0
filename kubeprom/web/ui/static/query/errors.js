// An API error, with a parse error's position shown under the expression and a button that
// puts the cursor there.
import { alert, h } from "../dom.js";

const POSITION = /(\d+):(\d+): parse error/;

export function errorPosition(message) {
  const m = POSITION.exec(message);
  return m ? { line: Number(m[1]), col: Number(m[2]) } : null;
}

export function errorBox(err, expr, input) {
  const pos = errorPosition(err.message);
  let where = null;
  if (pos) {
    const line = expr.split("\n")[pos.line - 1] ?? "";
    const caret = " ".repeat(Math.max(0, pos.col - 1)) + "^";
    where = [
      h("pre", { class: "position", "aria-label": `error at line ${pos.line}, column ${pos.col}` },
        line, "\n", h("span", { class: "caret" }, caret)),
      input ? h("button", { type: "button", onclick: () => input.goto(pos.line, pos.col) }, `Go to ${pos.line}:${pos.col}`) : null,
    ];
  }
  return alert("error", h("strong", null, "Error executing query: "), err.message, where);
}

export function notes(warnings, infos) {
  return [
    ...warnings.map((w) => alert("warning", h("strong", null, "Warning: "), w)),
    ...infos.map((i) => alert("info", h("strong", null, "Info: "), i)),
  ];
}
