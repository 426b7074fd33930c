/* Starmark scan page: checks the mark's signature on this device with verify-mark.js and says
   so. The page is complete without this script; it only adds the device's own answer, and a
   visible warning whenever that answer disagrees with the registry's verdict.

   Everything comes from the #device-check section: data-token, data-verdict (the server's),
   data-trust-list and data-msg-* (the messages in the page's language).
   window.StarmarkScan.check() runs the check again (it reads the attributes afresh). */
(function () {
  "use strict";

  var BAD = { invalid: true, unknown_key: true, malformed: true };

  function message(section, name) {
    return section.getAttribute("data-msg-" + name) || name;
  }

  function show(section, outcome) {
    var result = document.getElementById("device-check-result");
    var kind = outcome.result;
    section.setAttribute("data-result", kind);
    result.textContent = message(section, kind.replace("_", "-"));
    result.className = "device-result " + (kind === "verified" ? "ok" : BAD[kind] ? "bad" : "neutral");

    // The server found the signature good for every verdict but not_genuine.
    var serverGenuine = section.getAttribute("data-verdict") !== "not_genuine";
    var mismatch = null;
    if (serverGenuine && BAD[kind]) mismatch = "mismatch-genuine";
    if (!serverGenuine && kind === "verified") mismatch = "mismatch-fake";
    if (mismatch) {
      var warning = document.createElement("p");
      warning.id = "device-mismatch";
      warning.className = "warn-box mismatch";
      warning.setAttribute("role", "alert");
      var icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "⚠ ";
      var words = document.createElement("strong");
      words.textContent = message(section, mismatch);
      warning.appendChild(icon);
      warning.appendChild(words);
      result.parentNode.insertBefore(warning, result.nextSibling);
    }
    section.setAttribute("data-state", "done");
  }

  function check() {
    var section = document.getElementById("device-check");
    if (!section || !window.StarmarkMark) return Promise.resolve();
    var old = document.getElementById("device-mismatch");
    if (old) old.parentNode.removeChild(old);
    var result = document.getElementById("device-check-result");
    section.setAttribute("data-state", "checking");
    section.removeAttribute("data-result");
    result.textContent = message(section, "checking");
    result.className = "device-result neutral";
    var token = section.getAttribute("data-token") || "";
    return window.StarmarkMark.fetchTrustList(section.getAttribute("data-trust-list"))
      .then(function (list) { return window.StarmarkMark.verifyToken(token, list); })
      .then(
        function (outcome) { show(section, outcome); },
        function () { show(section, { result: "error" }); }
      );
  }

  window.StarmarkScan = { check: check };
  check();
})();
