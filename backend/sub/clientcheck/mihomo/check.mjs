// Validates every clash-meta golden file against mihomo's published JSON
// Schema (npm meta-json-schema), so a config the panel renders is one that
// the schema mihomo's editors and GUIs use accepts. Run with
// `npm run test:clash` (node --test backend/sub/clientcheck/mihomo/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYAML } from 'yaml';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = join(here, '..', '..', 'testdata', 'formats', 'clash-meta');
const samplesDir = join(here, 'testdata');

const schema = require('meta-json-schema/schemas/meta-json-schema.json');
const schemaVersion = require('meta-json-schema/package.json').version;

// The schema targets editors: it carries VS Code annotation keywords and a
// draft 2019 keyword (dependentRequired) inside a draft-07 document. Strict
// mode stays on for everything else so a typo in our use of ajv still fails.
function compile() {
  const ajv = new Ajv({
    allErrors: true,
    strictTypes: false, // the schema puts "pattern" on untyped alternatives
    strictTuples: false,
  });
  addFormats(ajv);
  for (const keyword of ['markdownDescription', 'markdownEnumDescriptions', 'errorMessage', 'deprecationMessage', 'enums']) {
    ajv.addKeyword({ keyword, schemaType: ['string', 'array', 'object'] });
  }
  ajv.addKeyword({
    keyword: 'dependentRequired',
    type: 'object',
    schemaType: 'object',
    validate(deps, data) {
      for (const [prop, needed] of Object.entries(deps)) {
        if (prop in data && needed.some((n) => !(n in data))) return false;
      }
      return true;
    },
  });
  return ajv.compile(schema);
}

const validate = compile();

function yamlFiles(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort().map((n) => join(dir, n));
}

function load(file) {
  // mihomo reads YAML 1.2 documents; a duplicate key is an error there too.
  return parseYAML(readFileSync(file, 'utf8'), { uniqueKeys: true, prettyErrors: true });
}

// A proxy is checked against every proxy type's branch of an anyOf, so most
// errors only say "not an ss proxy". The rest, deduplicated, name the field.
function problems(errors) {
  const all = errors || [];
  const noise = new Set(['const', 'anyOf', 'oneOf', 'if']);
  let kept = all.filter((e) => !noise.has(e.keyword) && e.keyword !== 'required');
  if (kept.length === 0) kept = all;
  const lines = new Set(kept.map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`));
  return [...lines].slice(0, 20).join('\n');
}

// mihomo's own loader refuses these even where the schema is silent.
function semanticProblems(cfg) {
  const out = [];
  const proxies = Array.isArray(cfg.proxies) ? cfg.proxies : [];
  const groups = Array.isArray(cfg['proxy-groups']) ? cfg['proxy-groups'] : [];
  const names = new Set();
  for (const p of proxies) {
    if (names.has(p.name)) out.push(`duplicate proxy name ${JSON.stringify(p.name)}`);
    names.add(p.name);
  }
  const groupNames = new Set(groups.map((g) => g.name));
  const builtin = new Set(['DIRECT', 'REJECT', 'REJECT-DROP', 'PASS', 'COMPATIBLE']);
  for (const g of groups) {
    const members = g.proxies || [];
    if (members.length === 0 && !g.use && !g['include-all'] && !g['include-all-proxies']) {
      out.push(`proxy group ${JSON.stringify(g.name)} is empty`);
    }
    for (const m of members) {
      if (!names.has(m) && !groupNames.has(m) && !builtin.has(m)) {
        out.push(`proxy group ${JSON.stringify(g.name)} names unknown proxy ${JSON.stringify(m)}`);
      }
    }
  }
  const rules = Array.isArray(cfg.rules) ? cfg.rules : [];
  if (!rules.some((r) => typeof r === 'string' && r.startsWith('MATCH,'))) {
    out.push('rules have no MATCH rule');
  }
  for (const r of rules) {
    if (typeof r !== 'string') continue;
    const parts = r.split(',');
    const target = r.startsWith('MATCH,') ? parts[1] : parts[2];
    if (target && !groupNames.has(target) && !names.has(target) && !builtin.has(target)) {
      out.push(`rule ${JSON.stringify(r)} targets unknown ${JSON.stringify(target)}`);
    }
  }
  return out;
}

function check(file) {
  const cfg = load(file);
  assert.ok(cfg && typeof cfg === 'object' && !Array.isArray(cfg), `${file}: not a YAML mapping`);
  if (!validate(cfg)) {
    assert.fail(`${file}: rejected by meta-json-schema ${schemaVersion}:\n${problems(validate.errors)}`);
  }
  const sem = semanticProblems(cfg);
  assert.deepEqual(sem, [], `${file}: ${sem.join('; ')}`);
}

const goldens = yamlFiles(goldenDir);

test('clash-meta golden files exist', () => {
  assert.ok(goldens.length > 0, `no *.yaml under ${goldenDir}: nothing would be checked`);
});

for (const file of goldens) {
  test(`mihomo schema accepts ${file.slice(goldenDir.length + 1)}`, () => check(file));
}

// The checker itself must be able to fail: hand-written samples named
// bad-*.yaml are each wrong in one way mihomo refuses, good-*.yaml are valid.
for (const file of yamlFiles(samplesDir)) {
  const name = file.slice(samplesDir.length + 1);
  if (name.startsWith('bad-')) {
    test(`checker rejects sample ${name}`, () => assert.throws(() => check(file), assert.AssertionError));
  } else {
    test(`checker accepts sample ${name}`, () => check(file));
  }
}
