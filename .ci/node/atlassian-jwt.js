#!/usr/bin/env node
// Mints a Connect JWT with Atlassian's own npm atlassian-jwt (2.0.3), as an
// independent cross-check of the Go implementation in app/connect.
//
// Usage: echo '<json>' | node .ci/node/atlassian-jwt.js
//
// Reads ONE JSON object from stdin and writes ONE JSON object plus a newline
// to stdout. On any error it writes a message to stderr, writes nothing to
// stdout, and exits 1.
//
// Input:
//   kind          "hs256" | "rs256"                                  (required)
//   method        HTTP method, e.g. "GET"          (required when qsh is "compute")
//   url           full request URL, e.g. "http://127.0.0.1:8080/admin?x=1"
//                                                  (required when qsh is "compute")
//   appBaseUrl    the app's baseUrl; its path prefix is stripped from the
//                 request path, as atlassian-connect-express does. Optional,
//                 default "" (nothing stripped).
//   secret        HS256 shared secret                                (hs256)
//   privateKeyPem PKCS#1 or PKCS#8 RSA private key, PEM              (rs256)
//   kid           JWT header "kid"; omitted from the header when absent (rs256)
//   claims        the payload claims, in this key order, e.g.
//                 {"iss": ..., "sub": ..., "aud": ..., "iat": ..., "exp": ..., "context": ...}
//                 A missing iat becomes now (seconds), and a missing exp
//                 becomes iat+180. Both are appended after the given claims.
//   qsh           "compute" (default): qsh = createQueryStringHash(req, false, appBaseUrl)
//                 "context": qsh = "context-qsh"
//                 "none":    no qsh claim is added; claims may then carry their own "qsh"
//                 any other string: used as the qsh claim value verbatim
//                 Except for "none", claims must not contain "qsh"; the qsh
//                 claim is always the last key of the payload.
//
// Output:
//   token      the compact JWT
//   qsh        the qsh claim that was put in the token ("" when qsh is "none")
//   canonical  createCanonicalRequest(req, false, appBaseUrl), or "" when
//              method/url were not given
//
// Header and payload are serialised by atlassian-jwt (JSON.stringify in
// insertion order): HS256 header {"typ":"JWT","alg":"HS256"}, RS256 header
// {"typ":"JWT","alg":"RS256","kid":...}. So the token bytes are reproducible
// from the same input.
'use strict';

const jwt = require('atlassian-jwt');

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function requireString(input, field) {
  const v = input[field];
  if (typeof v !== 'string' || v === '') {
    throw new Error(`input.${field} must be a non-empty string`);
  }
  return v;
}

function mint(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new Error('input must be one JSON object');
  }
  const kind = input.kind;
  if (kind !== 'hs256' && kind !== 'rs256') {
    throw new Error('input.kind must be "hs256" or "rs256"');
  }
  const qshMode = input.qsh === undefined ? 'compute' : input.qsh;
  if (typeof qshMode !== 'string' || qshMode === '') {
    throw new Error('input.qsh must be "compute", "context", "none" or a literal string');
  }
  const claims = input.claims === undefined ? {} : input.claims;
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new Error('input.claims must be a JSON object');
  }
  const appBaseUrl = input.appBaseUrl === undefined ? '' : input.appBaseUrl;
  if (typeof appBaseUrl !== 'string') {
    throw new Error('input.appBaseUrl must be a string');
  }

  let req = null;
  let canonical = '';
  if (qshMode === 'compute' || input.method !== undefined || input.url !== undefined) {
    req = jwt.fromMethodAndUrl(requireString(input, 'method'), requireString(input, 'url'));
    canonical = jwt.createCanonicalRequest(req, false, appBaseUrl);
  }

  let qsh;
  switch (qshMode) {
    case 'compute':
      qsh = jwt.createQueryStringHash(req, false, appBaseUrl);
      break;
    case 'context':
      qsh = 'context-qsh';
      break;
    case 'none':
      qsh = '';
      break;
    default:
      qsh = qshMode;
  }

  const payload = Object.assign({}, claims);
  if (qshMode !== 'none' && Object.prototype.hasOwnProperty.call(payload, 'qsh')) {
    throw new Error('claims.qsh is only allowed with "qsh": "none"');
  }
  if (payload.iat === undefined) payload.iat = Math.floor(Date.now() / 1000);
  if (payload.exp === undefined) payload.exp = payload.iat + 180;
  if (qshMode !== 'none') payload.qsh = qsh;

  let token;
  if (kind === 'hs256') {
    const secret = requireString(input, 'secret');
    token = jwt.encodeSymmetric(payload, secret, jwt.SymmetricAlgorithm.HS256);
  } else {
    const key = requireString(input, 'privateKeyPem');
    // atlassian-jwt 2.0.3 encodeAsymmetric(payload, key, algorithm, header)
    // copies only header.kid into the default {typ, alg} header.
    let header;
    if (input.kid !== undefined) header = { kid: requireString(input, 'kid') };
    token = jwt.encodeAsymmetric(payload, key, jwt.AsymmetricAlgorithm.RS256, header);
  }
  return { token, qsh, canonical };
}

readStdin()
  .then((text) => {
    let input;
    try {
      input = JSON.parse(text);
    } catch (e) {
      throw new Error(`stdin is not JSON: ${e.message}`);
    }
    process.stdout.write(JSON.stringify(mint(input)) + '\n');
  })
  .catch((err) => {
    process.stderr.write(`atlassian-jwt.js: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });
