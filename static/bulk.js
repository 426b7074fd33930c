// Bulk verification form: counts the lines to be checked as they are typed or chosen, and
// warns before a list longer than the limit is sent. The form works the same without it.
"use strict";
(function () {
  const LIMIT = 1000;
  const form = document.getElementById("bulk-form");
  if (!form) return;
  const area = document.getElementById("queries");
  const file = document.getElementById("file");
  const out = document.getElementById("row-count");
  const zh = document.documentElement.lang.startsWith("zh");

  function count(text) {
    return text.split("\n").filter(function (line) { return line.trim() !== ""; }).length;
  }
  function show(n) {
    if (n > LIMIT) {
      out.textContent = zh ? "共 " + n + " 行，超过每次 1000 项的上限。" : n + " lines: more than the limit of 1,000 at a time.";
      out.setAttribute("data-over", "true");
    } else {
      out.textContent = zh ? "共 " + n + " 行" : n + " lines";
      out.removeAttribute("data-over");
    }
  }
  area.addEventListener("input", function () { show(count(area.value)); });
  file.addEventListener("change", function () {
    const chosen = file.files && file.files[0];
    if (!chosen) { show(count(area.value)); return; }
    chosen.text().then(function (text) { show(count(text)); }, function () { out.textContent = ""; });
  });
  if (area.value) show(count(area.value));
})();
