// Reads a JSON array of URIs on standard input and writes, for each, what digital-link.js (an
// independent GS1 Digital Link implementation) makes of it: whether it is a valid GS1 Digital
// Link URI, its GTIN (AI 01), its serial (AI 21) and its other query parameters.
// Run by tests/suite/gs1.rs; `npm ci` in this folder (scripts/test does it) installs the library.
"use strict";

const { DigitalLink } = require("digital-link.js");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const answers = JSON.parse(input).map((uri) => {
    try {
      const link = DigitalLink(uri);
      return {
        uri,
        valid: link.isValid(),
        gtin: link.getIdentifier()["01"] || null,
        serial: link.getKeyQualifiers()["21"] || null,
        attributes: link.getAttributes(),
      };
    } catch (e) {
      return { uri, valid: false, error: String(e.message || e) };
    }
  });
  process.stdout.write(JSON.stringify(answers));
});
