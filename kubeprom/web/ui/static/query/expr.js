// The expression box: a textarea with completion (metric names, label names and values,
// functions, keywords, history) in an ARIA combobox. Enter executes, Shift+Enter adds a
// line, Ctrl+Space or ArrowDown opens the list, Up/Down move, Enter or Tab accept, Escape closes.
import { h } from "../dom.js";
import { completionContext } from "./complete.js";
import { loadHistory } from "./history.js";

let ids = 0;

export class ExpressionInput {
  constructor({ value, sources, onExecute }) {
    this.sources = sources;
    this.onExecute = onExecute;
    this.items = [];
    this.selected = -1;
    this.generation = 0;
    const listId = `complete-${++ids}`;
    this.textarea = h("textarea", {
      class: "expr", rows: 1, spellcheck: "false", autocomplete: "off", "data-search": true,
      placeholder: "Expression (press Shift+Enter for newlines)", "aria-label": "Expression",
      role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": listId,
    });
    this.textarea.value = value || "";
    this.list = h("ul", { class: "complete", id: listId, role: "listbox", hidden: true });
    this.el = h("div", { class: "expr-wrap" }, this.textarea, this.list);
    this.textarea.addEventListener("input", () => { this.autosize(); this.update(false); });
    this.textarea.addEventListener("keydown", (ev) => this.keydown(ev));
    this.textarea.addEventListener("blur", () => this.close());
    this.list.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep the focus in the box
    this.autosize();
  }

  get value() { return this.textarea.value; }
  set value(text) { this.textarea.value = text; this.autosize(); }

  autosize() {
    this.textarea.rows = Math.min(12, Math.max(1, this.textarea.value.split("\n").length));
  }

  get open() { return !this.list.hidden; }

  close() {
    this.list.hidden = true;
    this.items = [];
    this.selected = -1;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  }

  // Recomputes the list for the cursor; `explicit` opens it on an empty word too.
  async update(explicit) {
    const gen = ++this.generation;
    const text = this.textarea.value;
    const pos = this.textarea.selectionStart;
    const ctx = completionContext(text, pos);
    if (ctx.kind === "none" || (!explicit && ctx.prefix === "" && ctx.kind !== "label_name" && ctx.kind !== "label_value")) {
      this.close();
      return;
    }
    let items;
    try {
      items = await this.sources.candidates(ctx, text, loadHistory());
    } catch (err) {
      items = [];
    }
    if (gen !== this.generation || document.activeElement !== this.textarea) return;
    this.ctx = ctx;
    this.show(items);
  }

  show(items) {
    this.items = items;
    this.selected = items.length ? 0 : -1;
    if (!items.length) { this.close(); return; }
    this.list.replaceChildren(...items.map((it, i) => h("li", {
      id: `${this.list.id}-${i}`, role: "option", "aria-selected": String(i === this.selected), dataset: { kind: it.kind },
      onclick: () => { this.selected = i; this.accept(); },
    }, h("span", { class: "mono" }, it.label), h("span", { class: "kind" }, it.detail || it.kind))));
    this.list.hidden = false;
    this.textarea.setAttribute("aria-expanded", "true");
    this.mark();
  }

  mark() {
    [...this.list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === this.selected)));
    const li = this.list.children[this.selected];
    if (li) {
      this.textarea.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    }
  }

  accept() {
    const it = this.items[this.selected];
    if (!it) return;
    const text = this.textarea.value;
    const pos = this.textarea.selectionStart;
    let from = this.ctx.from;
    let to = pos;
    if (it.whole) { from = 0; to = text.length; }
    if (it.closesQuote && text[to] === this.ctx.quote) to += 1;
    this.textarea.value = text.slice(0, from) + it.insert + text.slice(to);
    const cursor = from + it.insert.length;
    this.textarea.setSelectionRange(cursor, cursor);
    this.autosize();
    this.close();
  }

  keydown(ev) {
    if (this.open) {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        const n = this.items.length;
        this.selected = (this.selected + (ev.key === "ArrowDown" ? 1 : n - 1)) % n;
        this.mark();
        return;
      }
      if (ev.key === "Escape") { ev.preventDefault(); this.close(); return; }
      const it = this.items[this.selected];
      const same = it && this.ctx && it.insert === this.textarea.value.slice(this.ctx.from, this.textarea.selectionStart);
      if ((ev.key === "Tab" || (ev.key === "Enter" && !ev.shiftKey && !same)) && it) {
        ev.preventDefault();
        this.accept();
        return;
      }
    }
    if (ev.key === " " && ev.ctrlKey) { ev.preventDefault(); this.update(true); return; }
    if (ev.key === "ArrowDown" && !this.open && !this.textarea.value.slice(this.textarea.selectionStart).includes("\n")) {
      ev.preventDefault();
      this.update(true);
      return;
    }
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      this.close();
      this.onExecute(this.textarea.value);
    }
  }

  // Puts the cursor at 1-based line:column (a parse error's position).
  goto(line, col) {
    const lines = this.textarea.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(0, col - 1);
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, Math.min(offset + 1, this.textarea.value.length));
  }
}
