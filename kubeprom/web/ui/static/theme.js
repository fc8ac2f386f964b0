// Applies the saved theme before the page paints, so a dark page never flashes light.
(function () {
  var theme = "auto";
  try { theme = localStorage.getItem("kubeprom.theme") || "auto"; } catch (e) { /* storage off */ }
  document.documentElement.setAttribute("data-theme", theme);
})();
