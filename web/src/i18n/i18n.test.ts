// Every language has every string, in every plural form it needs, with the
// same placeholders; every key the code asks for exists; and no string
// was left in English by mistake.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { en } from './locales/en';
import { fa } from './locales/fa';
import { ru } from './locales/ru';
import { zh } from './locales/zh';

const pluralSuffix = /_(zero|one|two|few|many|other)$/;

function flatten(obj: object, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') {
      out.set(key, v);
    } else {
      for (const [kk, vv] of flatten(v as object, key)) {
        out.set(kk, vv);
      }
    }
  }
  return out;
}

const base = (key: string) => key.replace(pluralSuffix, '');
const placeholders = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).filter((p) => p !== 'count').sort();

const english = flatten(en);
const englishBases = new Set([...english.keys()].map(base));
const pluralBases = new Set([...english.keys()].filter((k) => pluralSuffix.test(k)).map(base));

// Strings that are the same in every language: names and pure formats.
const sameEverywhere = new Set(['overview.version', 'userForm.usernameRule', 'nodes.fact.xray', 'nodes.snippet.systemd', 'nodes.snippet.compose']);

describe.each([
  ['fa', fa],
  ['ru', ru],
  ['zh', zh],
])('%s', (lang, translation) => {
  const strings = flatten(translation);
  const categories = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;

  test('has every key of English and no other', () => {
    const bases = new Set([...strings.keys()].map(base));
    expect([...englishBases].filter((k) => !bases.has(k))).toEqual([]);
    expect([...bases].filter((k) => !englishBases.has(k))).toEqual([]);
  });

  test('has the plural forms the language uses', () => {
    const missing: string[] = [];
    for (const b of pluralBases) {
      for (const c of categories) {
        if (!strings.has(`${b}_${c}`)) {
          missing.push(`${b}_${c}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  test('keeps the placeholders', () => {
    const wrong: string[] = [];
    for (const [key, value] of strings) {
      const source = english.get(key) ?? english.get(`${base(key)}_other`);
      if (source !== undefined && placeholders(source).join() !== placeholders(value).join()) {
        wrong.push(key);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('is translated', () => {
    const untranslated = [...strings].filter(([key, value]) => english.get(key) === value && !sameEverywhere.has(key) && /[a-z]{3}/i.test(value.replace(/\{\{\w+\}\}/g, '')));
    expect(untranslated.map(([k]) => k)).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      return sourceFiles(path);
    }
    return /\.tsx?$/.test(name) && !name.endsWith('.test.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

test('every key the code uses exists in English', () => {
  const src = join(import.meta.dirname, '..');
  const missing: string[] = [];
  const enTree = en as unknown as Record<string, unknown>;
  const exists = (key: string) => english.has(key) || pluralBases.has(key);
  const prefixExists = (prefix: string) => {
    let node: unknown = enTree;
    for (const part of prefix.split('.').filter(Boolean)) {
      node = (node as Record<string, unknown> | undefined)?.[part];
    }
    return typeof node === 'object' && node !== null;
  };
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) {
      if (!exists(m[1] ?? '')) {
        missing.push(`${file}: ${m[1] ?? ''}`);
      }
    }
    for (const m of text.matchAll(/\bt\(\s*`([a-zA-Z0-9_.]+)\.\$\{/g)) {
      if (!prefixExists(m[1] ?? '')) {
        missing.push(`${file}: ${m[1] ?? ''}.*`);
      }
    }
    // Keys named outside a t() call (tables of keys).
    for (const m of text.matchAll(/'((?:nav|logs|userForm)\.[a-zA-Z0-9_.]+)'/g)) {
      if (!exists(m[1] ?? '')) {
        missing.push(`${file}: ${m[1] ?? ''}`);
      }
    }
  }
  expect(missing).toEqual([]);
});
