import { describe, expect, test } from 'vitest';
import { isPerDeviceChoice, perDeviceChoice, perDeviceValue, shortCredential } from './perDevice';

describe('credentials per device', () => {
  test('null is the global default; true and false are a choice of their own, both ways', () => {
    expect(perDeviceChoice(null)).toBe('default');
    expect(perDeviceChoice(undefined)).toBe('default');
    expect(perDeviceChoice(true)).toBe('on');
    expect(perDeviceChoice(false)).toBe('off');
    for (const v of [null, true, false]) {
      expect(perDeviceValue(perDeviceChoice(v))).toBe(v);
    }
  });

  test('only the three choices are taken from the control', () => {
    expect(['default', 'on', 'off'].every(isPerDeviceChoice)).toBe(true);
    expect(isPerDeviceChoice('')).toBe(false);
    expect(isPerDeviceChoice('true')).toBe(false);
  });

  test('a credential is shortened to its start and end; a short one is left whole', () => {
    expect(shortCredential('1b4e28ba-2fa1-11d2-883f-0016d3cca427')).toBe('1b4e28ba…a427');
    expect(shortCredential('6fa459ea-ee8a-3ca4-894e-db77e160355e')).not.toBe(shortCredential('6fa459ea-0000-3ca4-894e-db77e1603550'));
    expect(shortCredential('short-pass')).toBe('short-pass');
    expect(shortCredential('')).toBe('');
  });
});
