// /status: build and runtime information (/api/v1/status/buildinfo, runtimeinfo).
import { start } from "../app.js";
import { get } from "../api.js";
import { clear, h, kv } from "../dom.js";
import { localTime } from "../format.js";

const RUNTIME = [
  ["startTime", "Start time", localTime],
  ["CWD", "Working directory"],
  ["hostname", "Hostname"],
  ["serverTime", "Server time", localTime],
  ["reloadConfigSuccess", "Configuration reload", (v) => (v ? "Successful" : "Unsuccessful")],
  ["lastConfigTime", "Last successful configuration reload", localTime],
  ["corruptionCount", "WAL corruptions"],
  ["goroutineCount", "Tasks (goroutines)"],
  ["GOMAXPROCS", "CPUs (GOMAXPROCS)"],
  ["storageRetention", "Storage retention"],
];

start(async (root) => {
  const [build, runtime] = await Promise.all([get("/api/v1/status/buildinfo"), get("/api/v1/status/runtimeinfo")]);
  const rt = runtime.data;
  clear(root,
    h("section", { "aria-labelledby": "build-h" }, h("h2", { id: "build-h" }, "Build information"),
      kv(Object.entries(build.data).map(([k, v]) => [k, String(v)]))),
    h("section", { "aria-labelledby": "rt-h" }, h("h2", { id: "rt-h" }, "Runtime information"),
      kv(RUNTIME.filter(([k]) => k in rt).map(([k, name, fmt]) => [name, fmt ? fmt(rt[k]) : String(rt[k])]))));
});
