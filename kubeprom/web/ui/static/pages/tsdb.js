// /tsdb-status: head statistics and the top cardinalities (/api/v1/status/tsdb).
import { start } from "../app.js";
import { get } from "../api.js";
import { clear, h, kv, table } from "../dom.js";

const TABLES = [
  ["seriesCountByMetricName", "Top metrics by series count", "Metric name", "Series"],
  ["labelValueCountByLabelName", "Top label names by value count", "Label name", "Values"],
  ["memoryInBytesByLabelName", "Top label names by memory used", "Label name", "Bytes"],
  ["seriesCountByLabelValuePair", "Top label pairs by series count", "Label pair", "Series"],
];

function time(ms) {
  return ms > 0 && ms < 8.64e15 ? `${new Date(ms).toISOString()} (${ms})` : `none (${ms})`;
}

start(async (root) => {
  const { data } = await get("/api/v1/status/tsdb", { limit: 10 });
  const head = data.headStats;
  clear(root,
    h("section", null, h("h2", null, "Head block"),
      kv([
        ["Series", head.numSeries.toLocaleString()],
        ["Label pairs", head.numLabelPairs.toLocaleString()],
        ["Chunks", head.chunkCount.toLocaleString()],
        ["Oldest sample", time(head.minTime)],
        ["Newest sample", time(head.maxTime)],
      ])),
    TABLES.map(([key, title, name, count]) =>
      h("section", { dataset: { stat: key } }, h("h2", null, title),
        table([[name, (r) => r.name], [count, (r) => r.value.toLocaleString(), { num: true }]], data[key] || []))));
});
