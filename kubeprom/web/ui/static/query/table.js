// The Table tab: an instant query's result (vector, matrix, scalar or string).
import { h } from "../dom.js";
import { formatSeries } from "../format.js";

export const MAX_ROWS = 1000;

function seriesCell(metric) {
  return h("td", { class: "mono" }, formatSeries(metric));
}

export function resultTable(data, showAll = false) {
  const { resultType, result } = data;
  if (resultType === "scalar" || resultType === "string") {
    return h("table", { class: "data", dataset: { result: resultType } },
      h("tbody", null, h("tr", null, h("td", null, resultType), h("td", { class: "num mono" }, result[1]))));
  }
  const rows = showAll ? result : result.slice(0, MAX_ROWS);
  const body = rows.map((s) => resultType === "vector"
    ? h("tr", null, seriesCell(s.metric), h("td", { class: "num mono" }, s.value[1]))
    : h("tr", null, seriesCell(s.metric), h("td", { class: "num mono" },
      s.values.map(([t, v], i) => [i ? h("br") : null, `${v} @${t}`]))));
  return h("div", { class: "scroll" }, h("table", { class: "data", dataset: { result: resultType } },
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Series"), h("th", { scope: "col" }, resultType === "vector" ? "Value" : "Values @ time"))),
    h("tbody", null, body)));
}
