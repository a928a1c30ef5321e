import { jsonLanguage } from '@codemirror/lang-json';
import type { SyntaxNode } from '@lezer/common';

/** Where an inbound is in the editor's text: the whole object and the part to mark (its "tag" property, or its first line). */
export interface InboundSpan {
  from: number;
  to: number;
  markFrom: number;
  markTo: number;
}

function children(node: SyntaxNode, name: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) {
    if (c.name === name) {
      out.push(c);
    }
  }
  return out;
}

function propertyName(text: string, prop: SyntaxNode): string | null {
  const name = prop.getChild('PropertyName');
  if (!name) {
    return null;
  }
  try {
    return JSON.parse(text.slice(name.from, name.to)) as string;
  } catch {
    return null;
  }
}

/** The value of an object's property, the last one of that name as JSON.parse takes (Xray matches "inbounds" without regard to case). */
function property(text: string, obj: SyntaxNode, name: string, anyCase = false): SyntaxNode | null {
  let found: SyntaxNode | null = null;
  for (const prop of children(obj, 'Property')) {
    const n = propertyName(text, prop);
    if (n === name || (anyCase && n?.toLowerCase() === name.toLowerCase())) {
      found = prop;
    }
  }
  return found;
}

/** The value node of a Property (the node after its name). */
function valueOf(prop: SyntaxNode): SyntaxNode | null {
  const name = prop.getChild('PropertyName');
  for (let c = name?.nextSibling ?? null; c; c = c.nextSibling) {
    if (c.type.isError || c.name === '⚠') {
      continue;
    }
    if (c.name !== ':') {
      return c;
    }
  }
  return null;
}

/** Finds `inbounds[index]` of a JSON config's text, or null when the text has no such element. */
export function locateInbound(text: string, index: number): InboundSpan | null {
  const tree = jsonLanguage.parser.parse(text);
  const top = tree.topNode.getChild('Object');
  if (!top) {
    return null;
  }
  const prop = property(text, top, 'inbounds', true);
  const arr = prop ? valueOf(prop) : null;
  if (arr?.name !== 'Array') {
    return null;
  }
  const elements: SyntaxNode[] = [];
  for (let c = arr.firstChild; c; c = c.nextSibling) {
    if (c.name !== '[' && c.name !== ']' && c.name !== ',' && !c.type.isError) {
      elements.push(c);
    }
  }
  const el = elements[index];
  if (!el) {
    return null;
  }
  const tag = el.name === 'Object' ? property(text, el, 'tag') : null;
  if (tag) {
    return { from: el.from, to: el.to, markFrom: tag.from, markTo: tag.to };
  }
  const eol = text.indexOf('\n', el.from);
  return { from: el.from, to: el.to, markFrom: el.from, markTo: eol < 0 || eol > el.to ? el.to : eol };
}

/** The index in a path such as "inbounds[2]", or null. */
export function inboundIndex(path: string | undefined): number | null {
  const m = /^inbounds\[(\d+)\]$/.exec(path ?? '');
  return m ? Number(m[1]) : null;
}
