/* Starmark: checks a star mark's token on this device, so a consumer need not take the server's
   word alone. The token layout and the signed message are those of docs/format.md section 10;
   the key comes from the published trust list (section 6), checked against its key id (section
   5). WebCrypto Ed25519 does the signature check. No libraries, no build step.

   window.StarmarkMark.verifyToken(token, trustList) resolves to
     { result: "verified" | "invalid" | "unknown_key" | "malformed" | "unsupported", reason, claims }
   and never to "verified" unless the browser itself checked the signature. */
(function (global) {
  "use strict";

  var CONTEXT = "starmark-mark-v1\n";
  // GS1 Digital Link marks: "01/" GTIN-14 "/21/" serial "?S=" number "." USCC base32 of 80 bytes.
  var GS1_CONTEXT = "starmark-gs1-mark-v1\n";
  var GS1_BASE32_LEN = 128;
  var GS1_BINARY_LEN = 80;
  var GS1_FIELDS_LEN = 16;
  var BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  var USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  var BASE32_LEN = 135;
  var BINARY_LEN = 84;
  var FIELDS_LEN = 20;
  var LEVELS = ["compliant", "three_star", "four_star", "five_star"];
  // Vector 1's public key (docs/format.md section 9): a known-good key to probe Ed25519 support.
  var PROBE_KEY = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";

  /* RFC 4648 base32, upper case, no padding; strict: unused trailing bits must be zero. */
  function base32Decode(text) {
    var out = new Uint8Array(Math.floor((text.length * 5) / 8));
    var buffer = 0;
    var bits = 0;
    var at = 0;
    for (var i = 0; i < text.length; i++) {
      var value = BASE32.indexOf(text.charAt(i));
      if (value < 0) return null;
      buffer = ((buffer << 5) | value) & 0x1fff;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out[at++] = (buffer >> bits) & 0xff;
      }
    }
    if ((buffer & ((1 << bits) - 1)) !== 0) return null;
    return out;
  }

  /* GB 32100-2015 check character. */
  function usccValid(code) {
    if (!/^[0-9A-HJ-NP-RTUW-Y]{18}$/.test(code)) return false;
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += USCC_ALPHABET.indexOf(code.charAt(i)) * USCC_WEIGHTS[i];
    var check = (31 - (sum % 31)) % 31;
    return USCC_ALPHABET.charAt(check) === code.charAt(17);
  }

  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  function ascii(text) {
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  function base64Decode(text) {
    try {
      var raw = atob(text);
      var out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      return out;
    } catch (e) {
      return null;
    }
  }

  function u32(bytes, at) {
    return ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
  }

  /* The GS1 check digit of a 14-digit GTIN is right. */
  function gtinValid(gtin) {
    if (!/^[0-9]{14}$/.test(gtin)) return false;
    var sum = 0;
    for (var i = 0; i < 13; i++) sum += Number(gtin[12 - i]) * (i % 2 === 0 ? 3 : 1);
    return (10 - (sum % 10)) % 10 === Number(gtin[13]);
  }

  /* A GS1 Digital Link mark's token (upper case), as parseToken answers. */
  function parseGs1(token) {
    var match = /^01\/([0-9]{14})\/21\/([1-9][0-9]{0,9})\?S=([A-Z][A-Z0-9-]{5,31})\.([A-Z0-9]{18})([A-Z2-7]*)$/.exec(token);
    if (!match) return { ok: false, reason: "not a GS1 mark of this registry" };
    var gtin = match[1], serial = Number(match[2]), number = match[3], uscc = match[4];
    if (!gtinValid(gtin)) return { ok: false, reason: "bad GTIN" };
    if (serial > 4294967295) return { ok: false, reason: "not a serial of this registry" };
    if (!usccValid(uscc)) return { ok: false, reason: "bad unified social credit code" };
    if (match[5].length !== GS1_BASE32_LEN) return { ok: false, reason: "wrong length (truncated or padded)" };
    var binary = base32Decode(match[5]);
    if (!binary || binary.length !== GS1_BINARY_LEN) return { ok: false, reason: "bad base32" };
    var head = tokenHead(binary, 2);
    if (head.reason) return { ok: false, reason: head.reason };
    if (head.batch === 0) return { ok: false, reason: "batch and serial start at 1" };
    var text = gtin + "/" + match[2] + "/" + number + "." + uscc;
    var claims = {
      number: number,
      uscc: uscc,
      level: head.level,
      valid_until: head.validUntil,
      batch: head.batch,
      serial: serial,
      gtin: gtin
    };
    return signedToken(GS1_CONTEXT, text, binary, GS1_FIELDS_LEN, claims);
  }

  /* The fields both token layouts open with (docs/format.md §10): the layout's version, the key
     id (bytes 1-8, read by signedToken), the level, the validity in days since 1970 and the
     batch. { level, validUntil, batch }, or { reason } when the version or level is not ours. */
  function tokenHead(binary, version) {
    if (binary[0] !== version) return { reason: "token version " + binary[0] + " is not supported" };
    var level = LEVELS[binary[9]];
    if (!level) return { reason: "bad level" };
    var days = (binary[10] << 8) | binary[11];
    return {
      level: level,
      validUntil: new Date(days * 86400000).toISOString().slice(0, 10),
      batch: u32(binary, 12)
    };
  }

  /* A parsed token: what was signed (the context, the token's text, then its first `fieldsLen`
     bytes), the signature after those bytes, and the claims. */
  function signedToken(context, text, binary, fieldsLen, claims) {
    var message = new Uint8Array(context.length + text.length + fieldsLen);
    message.set(ascii(context), 0);
    message.set(ascii(text), context.length);
    message.set(binary.subarray(0, fieldsLen), context.length + text.length);
    return {
      ok: true,
      keyId: hex(binary.subarray(1, 9)),
      message: message,
      signature: binary.slice(fieldsLen),
      claims: claims
    };
  }

  /* Takes a token apart without checking its signature: { ok: true, claims, keyId, message,
     signature } or { ok: false, reason }. */
  function parseToken(input) {
    var token = String(input).trim().toUpperCase();
    if (token.indexOf("01/") === 0) return parseGs1(token);
    var dot = token.indexOf(".");
    if (dot < 0) return { ok: false, reason: "no '.' after the certificate number" };
    var number = token.slice(0, dot);
    var rest = token.slice(dot + 1);
    if (!/^[A-Z][A-Z0-9-]{5,31}$/.test(number)) return { ok: false, reason: "bad certificate number" };
    if (rest.length !== 18 + BASE32_LEN) return { ok: false, reason: "wrong length (truncated or padded)" };
    var uscc = rest.slice(0, 18);
    if (!usccValid(uscc)) return { ok: false, reason: "bad unified social credit code" };
    var binary = base32Decode(rest.slice(18));
    if (!binary || binary.length !== BINARY_LEN) return { ok: false, reason: "bad base32" };
    var head = tokenHead(binary, 1);
    if (head.reason) return { ok: false, reason: head.reason };
    var serial = u32(binary, 16);
    if ((head.batch === 0) !== (serial === 0)) return { ok: false, reason: "batch and serial start at 1" };
    var claims = {
      number: number,
      uscc: uscc,
      level: head.level,
      valid_until: head.validUntil,
      batch: head.batch,
      serial: serial
    };
    return signedToken(CONTEXT, number + "." + uscc, binary, FIELDS_LEN, claims);
  }

  function subtle() {
    return global.crypto && global.crypto.subtle ? global.crypto.subtle : null;
  }

  function importKey(raw) {
    return subtle().importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  }

  var probe = null;
  /* Whether this browser does Ed25519 in WebCrypto (resolves true or false, never rejects). */
  function supported() {
    if (!subtle()) return Promise.resolve(false);
    if (!probe) {
      probe = importKey(base64Decode(PROBE_KEY)).then(
        function () { return true; },
        function () { return false; }
      );
    }
    return probe;
  }

  /* The raw key for a key id, from the trust list, only if the id is that key's id: the first
     8 bytes of SHA-256 of the raw key, in hex. */
  function findKey(trustList, keyId) {
    var keys = trustList && Array.isArray(trustList.keys) ? trustList.keys : [];
    var candidates = keys.filter(function (k) { return k && k.key_id === keyId; });
    return candidates.reduce(function (found, entry) {
      return found.then(function (key) {
        if (key) return key;
        var raw = base64Decode(entry.public_key || "");
        if (!raw || raw.length !== 32) return null;
        return subtle().digest("SHA-256", raw).then(function (digest) {
          return hex(new Uint8Array(digest).subarray(0, 8)) === keyId ? raw : null;
        });
      });
    }, Promise.resolve(null));
  }

  /* Parses and checks a token against a trust list (the parsed keys.json). */
  function verifyToken(token, trustList) {
    var parsed = parseToken(token);
    if (!parsed.ok) return Promise.resolve({ result: "malformed", reason: parsed.reason, claims: null });
    var claims = parsed.claims;
    return supported().then(function (ok) {
      if (!ok) {
        return { result: "unsupported", reason: "this browser cannot check Ed25519 signatures", claims: claims };
      }
      return findKey(trustList, parsed.keyId).then(function (raw) {
        if (!raw) {
          return { result: "unknown_key", reason: "key " + parsed.keyId + " is not in the trust list", claims: claims };
        }
        return importKey(raw)
          .then(function (key) { return subtle().verify({ name: "Ed25519" }, key, parsed.signature, parsed.message); })
          .then(function (good) {
            return good
              ? { result: "verified", reason: "signature verified with key " + parsed.keyId, claims: claims }
              : { result: "invalid", reason: "the signature does not match", claims: claims };
          }, function () {
            return { result: "invalid", reason: "the signature could not be checked with key " + parsed.keyId, claims: claims };
          });
      });
    });
  }

  /* Fetches the trust list from this site (the page's policy allows only 'self'). */
  function fetchTrustList(url) {
    return fetch(url || "/.well-known/starmark/keys.json", { credentials: "omit", cache: "no-cache" }).then(function (response) {
      if (!response.ok) throw new Error("trust list: HTTP " + response.status);
      return response.json();
    });
  }

  global.StarmarkMark = {
    parseToken: parseToken,
    verifyToken: verifyToken,
    fetchTrustList: fetchTrustList,
    supported: supported,
    base32Decode: base32Decode
  };
})(window);
