import { describe, expect, it } from 'vitest';
import { dateInputText, dateLocale, formatDay, fromJalali, latinDigits, parseDateInput, showDate, toJalali } from './format';

describe('Jalali dates', () => {
  it('knows Nowruz 1405 is 2026-03-21', () => {
    expect(toJalali(new Date('2026-03-21T00:00:00Z'))).toEqual({ year: 1405, month: 1, day: 1 });
    expect(fromJalali(1405, 1, 1)).toBe('2026-03-21');
    expect(fromJalali(1404, 12, 29)).toBe('2026-03-20');
  });

  it('round-trips every day of several years, leap days included', () => {
    for (let t = Date.UTC(2023, 0, 1); t < Date.UTC(2031, 0, 1); t += 86400_000) {
      const iso = new Date(t).toISOString().slice(0, 10);
      const j = toJalali(new Date(t));
      expect(fromJalali(j.year, j.month, j.day)).toBe(iso);
    }
  });

  it('refuses days that do not exist', () => {
    expect(fromJalali(1404, 12, 30)).toBeNull(); // 1404 is a common year
    expect(fromJalali(1403, 12, 30)).toBe('2025-03-20'); // 1403 is a leap year
    expect(fromJalali(1405, 7, 31)).toBeNull();
    expect(fromJalali(1405, 13, 1)).toBeNull();
    expect(fromJalali(1405, 0, 1)).toBeNull();
  });
});

describe('date inputs', () => {
  it('show and read Jalali in Persian, with either digits', () => {
    expect(dateInputText('2026-03-21', 'fa')).toBe('1405/01/01');
    expect(parseDateInput('1405/01/01', 'fa')).toBe('2026-03-21');
    expect(parseDateInput('۱۴۰۵/۱/۱', 'fa')).toBe('2026-03-21');
    expect(parseDateInput('1405-1-1', 'fa')).toBe('2026-03-21');
    expect(parseDateInput('1404/12/30', 'fa')).toBeNull();
    expect(parseDateInput('', 'fa')).toBe('');
    expect(parseDateInput('tomorrow', 'fa')).toBeNull();
  });

  it('stay Gregorian ISO in other languages', () => {
    expect(dateInputText('2026-03-21', 'en')).toBe('2026-03-21');
    expect(parseDateInput('2026-03-21', 'ru')).toBe('2026-03-21');
    expect(parseDateInput('2026-02-30', 'en')).toBeNull();
    expect(parseDateInput('1405/01/01', 'zh')).toBe('1405-01-01');
  });

  it('turns Persian and Arabic-Indic digits into Latin ones', () => {
    expect(latinDigits('۱۲۳٤٥')).toBe('12345');
  });
});

describe('showDate', () => {
  const nowruz = new Date('2026-03-21T12:00:00Z');
  it('uses the Persian calendar in Persian only', () => {
    expect(dateLocale('fa')).toBe('fa-IR-u-ca-persian');
    expect(latinDigits(showDate(nowruz, 'date', { utc: true, language: 'fa' }))).toContain('1405');
    expect(showDate(nowruz, 'date', { utc: true, language: 'en' })).toContain('2026');
    expect(showDate(nowruz, 'date', { utc: true, language: 'ru' })).toContain('2026');
  });
  it('formats chart days', () => {
    expect(formatDay('2026-03-21')).toMatch(/21|3/);
  });
});
