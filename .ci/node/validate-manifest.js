#!/usr/bin/env node
// Validates a Forge manifest.yml against npm @forge/manifest (the schema and
// validators the Forge CLI uses).
//
// Usage: node .ci/node/validate-manifest.js <path/to/manifest.yml>
//
// Checks, in order; the first failing group stops the run:
//  1. YAML parses, with no duplicate keys.
//  2. ajv validates it against @forge/manifest's manifest-schema.json, with the
//     same ajv options that @forge/manifest's SchemaValidator uses.
//  3. Each permissions.scopes entry is listed in the package's
//     out/scopes/shipyard-scopes.json. A scope that appears only in the
//     deprecated list also fails the run.
//  4. @forge/manifest's own FULL validation (what `forge lint` runs offline):
//     references between modules, endpoints and remotes, connectModules key
//     names, resource paths, storage.inScopeEUD, and so on. Warnings are
//     printed but do not fail the run.
//  5. If an atlassian-connect.json sits next to the manifest, it checks that
//     the two agree: the Connect key, the remote baseUrl, the lifecycle URLs,
//     and the Connect scopes mapped to <scope>:connect-<product>.
//
// Prints "manifest valid" and exits 0 on success. Otherwise it prints the
// errors and exits 1. Bad usage exits 2.
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

// @forge/manifest's package.json "exports" exposes only "." and
// "./schema.json", so the scope lists are read from the package folder.
const forgeManifest = require('@forge/manifest');
const manifestSchema = require('@forge/manifest/schema.json');
const forgeOutDir = path.dirname(require.resolve('@forge/manifest'));
const forgePkg = JSON.parse(fs.readFileSync(path.join(forgeOutDir, '..', 'package.json'), 'utf8'));
const readScopeList = (name) => JSON.parse(fs.readFileSync(path.join(forgeOutDir, 'scopes', name), 'utf8'));

function fail(lines) {
  for (const line of lines) console.error(line);
  console.error('manifest INVALID');
  process.exit(1);
}

function parseYaml(file) {
  const text = fs.readFileSync(file, 'utf8');
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    fail(doc.errors.map((e) => `yaml: ${e.message}`));
  }
  for (const w of doc.warnings) console.error(`yaml warning: ${w.message}`);
  return doc.toJS();
}

function validateSchema(manifest) {
  // Same configuration as @forge/manifest out/validators/schema-validator.js.
  const ajv = new Ajv({ allErrors: true, verbose: false, strict: false });
  addFormats(ajv);
  ajv.addVocabulary(['defaultValue', 'fieldDescription', 'fieldTitle', 'shortClassName']);
  const validate = ajv.compile(manifestSchema);
  if (validate(manifest)) return;
  fail(
    validate.errors.map(
      (e) => `schema: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`
    )
  );
}

function validateScopes(manifest) {
  const raw = manifest.permissions && manifest.permissions.scopes;
  if (!raw) return;
  const scopes = Array.isArray(raw) ? raw : Object.keys(raw);
  const current = new Set(readScopeList('shipyard-scopes.json'));
  const deprecated = new Set(readScopeList('deprecated-shipyard-scopes.json'));
  const errors = [];
  const seen = new Set();
  for (const s of scopes) {
    if (seen.has(s)) errors.push(`scope: ${s} is listed twice`);
    seen.add(s);
    if (current.has(s)) continue;
    if (deprecated.has(s)) {
      errors.push(`scope: ${s} is deprecated in @forge/manifest ${forgePkg.version}`);
    } else {
      errors.push(`scope: ${s} is not a known Forge scope in @forge/manifest ${forgePkg.version}`);
    }
  }
  if (errors.length > 0) fail(errors);
}

async function validateWithForge(file) {
  const result = await forgeManifest.validate(false, file);
  const errors = [];
  for (const e of result.errors || []) {
    const where = e.line ? ` (line ${e.line})` : '';
    const line = `forge ${e.level}: ${e.message}${where}`;
    if (e.level === 'error') errors.push(line);
    else console.error(line);
  }
  if (!result.success || errors.length > 0) {
    fail(errors.length > 0 ? errors : ['forge: validation failed without a message']);
  }
}

// checkConnectDescriptor cross-checks the Forge manifest against the Connect
// descriptor beside it, so that the two cannot drift apart unnoticed.
function checkConnectDescriptor(manifest, manifestFile) {
  const descriptorFile = path.join(path.dirname(manifestFile), 'atlassian-connect.json');
  if (!fs.existsSync(descriptorFile)) return false;
  const d = JSON.parse(fs.readFileSync(descriptorFile, 'utf8'));
  const errors = [];
  const connect = (manifest.app && manifest.app.connect) || {};
  if (connect.key !== d.key) {
    errors.push(`connect: app.connect.key ${connect.key} != descriptor key ${d.key}`);
  }
  const remote = (manifest.remotes || []).find((r) => r.key === connect.remote);
  if (!remote) {
    errors.push(`connect: no remote ${connect.remote}`);
  } else if (remote.baseUrl !== d.baseUrl) {
    errors.push(`connect: remote ${remote.key} baseUrl ${JSON.stringify(remote.baseUrl)} != descriptor baseUrl ${d.baseUrl}`);
  }
  const cm = manifest.connectModules || {};
  const scopes = new Set((manifest.permissions && manifest.permissions.scopes) || []);
  const products = Object.keys(cm)
    .map((k) => k.split(':')[0])
    .filter((p, i, a) => a.indexOf(p) === i);
  for (const p of products) {
    const lc = (cm[`${p}:lifecycle`] || [])[0];
    for (const [event, url] of Object.entries(d.lifecycle || {})) {
      if (!lc || lc[event] !== url) {
        errors.push(`connect: ${p}:lifecycle ${event} is ${lc && lc[event]}, descriptor says ${url}`);
      }
    }
    for (const s of d.scopes || []) {
      const forge = `${s.toLowerCase().replace(/_/g, '-')}:connect-${p}`;
      if (!scopes.has(forge)) errors.push(`connect: descriptor scope ${s} needs ${forge} in permissions.scopes`);
    }
    for (const s of scopes) {
      const m = /^(.*):connect-(.*)$/.exec(s);
      if (!m || m[2] !== p) continue;
      const connectScope = m[1].toUpperCase().replace(/-/g, '_');
      if (!(d.scopes || []).map((x) => x.toUpperCase()).includes(connectScope)) {
        errors.push(`connect: ${s} in permissions.scopes but descriptor has no ${connectScope} scope`);
      }
    }
    for (const page of (d.modules && d.modules.adminPages) || []) {
      const pages = cm[`${p}:adminPages`] || [];
      if (!pages.some((x) => x.url === page.url)) {
        errors.push(`connect: ${p}:adminPages has no page with url ${page.url}`);
      }
    }
  }
  if (errors.length > 0) fail(errors);
  return true;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 1) {
    console.error('usage: node validate-manifest.js <path/to/manifest.yml>');
    process.exit(2);
  }
  const file = path.resolve(args[0]);
  if (!fs.existsSync(file)) {
    console.error(`no such file: ${args[0]}`);
    process.exit(2);
  }
  const manifest = parseYaml(file);
  validateSchema(manifest);
  validateScopes(manifest);
  await validateWithForge(file);
  const crossChecked = checkConnectDescriptor(manifest, file);
  const extra = crossChecked ? ', consistent with atlassian-connect.json' : '';
  console.log(`manifest valid (@forge/manifest ${forgePkg.version}${extra})`);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
