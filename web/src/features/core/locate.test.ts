import { describe, expect, it } from 'vitest';
import { inboundIndex, locateInbound } from './locate';

const config = JSON.stringify(
  {
    log: { loglevel: 'warning' },
    inbounds: [
      { tag: 'A', protocol: 'vless', port: 1 },
      { protocol: 'vmess', port: 2 },
      { port: 3, tag: 'C "quoted"', protocol: 'trojan' },
    ],
    outbounds: [{ tag: 'DIRECT', protocol: 'freedom' }],
  },
  null,
  2,
);

function at(index: number) {
  const span = locateInbound(config, index);
  if (span === null) {
    throw new Error(`inbounds[${String(index)}] not found`);
  }
  return { mark: config.slice(span.markFrom, span.markTo), whole: JSON.parse(config.slice(span.from, span.to)) as unknown };
}

describe('locateInbound', () => {
  it('marks the tag property of the inbound at the index', () => {
    const { mark, whole } = at(2);
    expect(mark).toBe('"tag": "C \\"quoted\\""');
    expect(whole).toEqual({ port: 3, tag: 'C "quoted"', protocol: 'trojan' });
  });
  it('marks the first line of an inbound without a tag', () => {
    const { mark, whole } = at(1);
    expect(mark).toBe('{');
    expect(whole).toEqual({ protocol: 'vmess', port: 2 });
  });
  it('finds nothing past the end, without inbounds, or in text that is not an object', () => {
    expect(locateInbound(config, 3)).toBeNull();
    expect(locateInbound('{"outbounds": []}', 0)).toBeNull();
    expect(locateInbound('[1, 2]', 0)).toBeNull();
  });
  it('reads the index of a path', () => {
    expect(inboundIndex('inbounds[12]')).toBe(12);
    expect(inboundIndex('outbounds[1]')).toBeNull();
    expect(inboundIndex(undefined)).toBeNull();
  });
});
