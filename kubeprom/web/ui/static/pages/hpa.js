// /hpa: the HorizontalPodAutoscalers page. The HPA controller and its API have not landed in
// kubeprom yet; this page says so instead of guessing an API. When the controller serves its
// objects, this module renders them: metrics against targets, replicas over time, conditions,
// recent events and the last decisions with their reasons.
import { start } from "../app.js";
import { alert, clear, h } from "../dom.js";

start(async (root) => {
  clear(root,
    alert("info",
      h("strong", null, "No HPA controller in this kubeprom yet. "),
      "The autoscaling/v2 HorizontalPodAutoscaler controller is being built; once it serves its objects, " +
      "this page will list each HPA's metrics against their targets, replicas over time, conditions, " +
      "recent events and its last scaling decisions with their reasons."),
    h("p", { class: "muted" }, "Meanwhile, replicas of the simulated Deployments can be graphed on the ",
      h("a", { href: "/query?g0.expr=" + encodeURIComponent("kube_deployment_status_replicas") + "&g0.tab=graph&g0.range_input=1h" }, "Query page"),
      "."));
});
