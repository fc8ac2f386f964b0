// /config: the configuration as loaded (/api/v1/status/config).
import { start } from "../app.js";
import { get } from "../api.js";
import { clear, h } from "../dom.js";

start(async (root) => {
  const { data } = await get("/api/v1/status/config");
  const status = h("span", { class: "muted", role: "status" });
  const copy = h("button", {
    type: "button",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(data.yaml);
        status.textContent = "Copied";
      } catch (err) {
        status.textContent = `Copy failed: ${err.message}`;
      }
    },
  }, "Copy to clipboard");
  clear(root, h("div", { class: "row" }, copy, status), h("pre", { id: "config-yaml", tabindex: 0 }, h("code", null, data.yaml)));
});
