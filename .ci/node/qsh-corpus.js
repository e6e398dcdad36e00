#!/usr/bin/env node
// Generates random signed URLs with Atlassian's own npm atlassian-jwt (2.0.3),
// for the differential test of Lapse's query string hash
// (app/web/interop_test.go, TestInterop_QSHCorpus).
//
// Usage: echo '<json>' | node .ci/node/qsh-corpus.js
//
// Input (one JSON object on stdin):
//   seed       unsigned 32-bit integer; the same seed gives the same URLs
//   count      how many URLs to generate
//   url        the request URL without query, e.g. "http://127.0.0.1:8080/admin"
//   appBaseUrl the app's baseUrl; its path is stripped before hashing
//   secret     HS256 shared secret
//   claims     payload claims (iss, sub, iat, exp, ...); qsh is added last
//
// Output: one JSON line per URL: {"url", "canonical", "qsh", "token"}. "url" is
// the signed URL without the jwt parameter; the caller appends "jwt=<token>".
//
// Second mode, the oracle for URLs Lapse accepted although they differ from a
// signed one: input {"canonicalize": [url, ...], "appBaseUrl": ...} writes
// one JSON line {"canonical"} per URL, atlassian-jwt's canonical request for
// GET of that URL.
//
// The query strings are built to hit what has gone wrong before: repeated
// names and values, characters from every Unicode plane (0 to 16), reserved
// and sub-delimiter characters raw or escaped, unreserved characters escaped
// needlessly, lower-case hex, "+" and "%20" for space, empty names and values,
// names without "=", literal "%" and text that looks percent-encoded, and
// (rarely) escapes that are not valid UTF-8. Lone surrogates are never
// produced: encodeURIComponent throws on them, so no Atlassian signer can
// sign one.
'use strict';

const jwt = require('atlassian-jwt');

// mulberry32: small, fast and deterministic across Node versions.
function prng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(seed) {
  const rnd = prng(seed);
  const int = (n) => Math.floor(rnd() * n);
  const pick = (xs) => xs[int(xs.length)];

  const UNRESERVED = 'ABCXYZabcxyz0189-._~';
  const SUB_DELIMS = "!$'()*,;:@/?"; // legal raw in a query
  const MUST_ESCAPE = '&=#+% "<>[]\\^`{|}';

  // A code point from plane p (0..16), never a surrogate.
  function planeCodePoint(p) {
    for (;;) {
      const cp = p * 0x10000 + int(0x10000);
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      if (p === 0 && cp < 0x80) continue; // ASCII has its own classes
      return cp;
    }
  }

  function char() {
    switch (int(10)) {
      case 0:
      case 1:
        return pick(UNRESERVED);
      case 2:
        return pick(SUB_DELIMS);
      case 3:
        return pick(MUST_ESCAPE);
      case 4: // high BMP, where UTF-16 and UTF-8 order disagree with planes 1-16
        return String.fromCodePoint(0xe000 + int(0x2000));
      case 5:
        return String.fromCodePoint(planeCodePoint(0));
      case 6:
      case 7:
        return String.fromCodePoint(planeCodePoint(1 + int(16)));
      case 8: // text that looks percent-encoded once decoded
        return '%' + pick(['20', '2B', '41', 'e2', 'G1', '']);
      default:
        return pick(['a', 'b', 'A', 'B', '1']);
    }
  }

  function text(maxLen) {
    let s = '';
    for (let n = int(maxLen + 1); n > 0; n--) s += char();
    return s;
  }

  const hex = (b) => {
    const h = b.toString(16).padStart(2, '0');
    return int(4) === 0 ? h.toLowerCase() : h.toUpperCase();
  };
  const escapeBytes = (s) => Array.from(Buffer.from(s, 'utf8'), (b) => '%' + hex(b)).join('');

  // Encodes s for a raw query, choosing a different legal spelling per
  // character, so the verifier has to decode the way the signer does.
  function encode(s) {
    let out = '';
    for (const ch of s) {
      if (ch === ' ') {
        out += int(2) ? '+' : '%20';
      } else if (UNRESERVED.includes(ch) || /[A-Za-z0-9]/.test(ch)) {
        out += int(6) === 0 ? escapeBytes(ch) : ch;
      } else if (SUB_DELIMS.includes(ch)) {
        out += int(2) ? ch : escapeBytes(ch);
      } else {
        out += escapeBytes(ch);
      }
    }
    return out;
  }

  // Escapes that are not UTF-8: truncated sequences, stray continuation
  // bytes, overlongs, surrogates encoded in UTF-8, bytes above F4.
  function invalidUTF8() {
    return pick(['%E2%82', '%FF', '%C0%AF', '%ED%A0%80', '%F0%9F%98', '%80%80', '%F5%80%80%80', '%E2']);
  }

  function name() {
    const n = int(8) === 0 ? '' : text(4);
    return n === 'jwt' ? 'jwt_' : n;
  }

  function query() {
    const names = [];
    for (let n = 1 + int(4); n > 0; n--) names.push(name());
    const pairs = [];
    for (let n = int(9); n > 0; n--) {
      const k = pick(names);
      let v;
      switch (int(8)) {
        case 0:
          v = '';
          break;
        case 1: // a value repeated under the same name
          v = pairs.length ? pairs[int(pairs.length)].v : text(3);
          break;
        default:
          v = text(6);
      }
      pairs.push({ k, v });
    }
    return pairs
      .map(({ k, v }) => {
        const key = encode(k);
        if (v === '' && int(4) === 0) return key; // "name" without "="
        const val = int(40) === 0 ? encode(v) + invalidUTF8() : encode(v);
        return key + '=' + val;
      })
      .join('&');
  }

  return query;
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function canonicalize(urls, appBaseUrl) {
  const lines = urls.map((u) =>
    JSON.stringify({ canonical: jwt.createCanonicalRequest(jwt.fromMethodAndUrl('GET', u), false, appBaseUrl || '') }),
  );
  process.stdout.write(lines.join('\n') + '\n');
}

function main(input) {
  if (Array.isArray(input.canonicalize)) return canonicalize(input.canonicalize, input.appBaseUrl);
  const { seed, count, url, appBaseUrl, secret, claims } = input;
  if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 1) throw new Error('seed and count must be integers');
  if (typeof url !== 'string' || typeof secret !== 'string' || secret === '') throw new Error('url and secret are required');
  const query = generator(seed);
  const lines = [];
  for (let i = 0; i < count; i++) {
    const q = query();
    const signed = q === '' ? url : url + '?' + q;
    const req = jwt.fromMethodAndUrl('GET', signed);
    const canonical = jwt.createCanonicalRequest(req, false, appBaseUrl || '');
    const qsh = jwt.createQueryStringHash(req, false, appBaseUrl || '');
    const payload = Object.assign({}, claims, { qsh });
    const token = jwt.encodeSymmetric(payload, secret, jwt.SymmetricAlgorithm.HS256);
    lines.push(JSON.stringify({ url: signed, canonical, qsh, token }));
  }
  process.stdout.write(lines.join('\n') + '\n');
}

readStdin()
  .then((text) => main(JSON.parse(text)))
  .catch((err) => {
    process.stderr.write(`qsh-corpus.js: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });
