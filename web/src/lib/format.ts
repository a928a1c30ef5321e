import i18n from '../i18n';

/** "3 minutes ago" for an RFC 3339 time; "never" for null. */
export function timeAgo(iso: string | null | undefined, now: Date = new Date()): string {
  if (iso == null) {
    return i18n.t('common.never');
  }
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) {
    return i18n.t('common.unknown');
  }
  const relative = new Intl.RelativeTimeFormat(i18n.language, { numeric: 'auto' });
  const steps: [Intl.RelativeTimeFormatUnit, number][] = [
    ['second', 60],
    ['minute', 60],
    ['hour', 24],
    ['day', 30],
    ['month', 12],
    ['year', Number.POSITIVE_INFINITY],
  ];
  let value = (then.getTime() - now.getTime()) / 1000;
  for (const [unit, size] of steps) {
    if (Math.abs(value) < size) {
      return relative.format(Math.round(value), unit);
    }
    value /= size;
  }
  return formatTime(iso);
}

/**
 * The Intl locale of a dashboard language: Persian shows the Jalali (Solar
 * Hijri) calendar, every other language the Gregorian one.
 */
export function dateLocale(language: string = i18n.language): string {
  return language.startsWith('fa') ? 'fa-IR-u-ca-persian' : language.startsWith('en') ? 'en-GB' : language;
}

type DateStyle = 'datetime' | 'date' | 'day';

const dateStyles: Record<DateStyle, Intl.DateTimeFormatOptions> = {
  datetime: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' },
  date: { year: 'numeric', month: 'short', day: 'numeric' },
  // A day of a chart's axis: the year is the chart's.
  day: { month: 'numeric', day: 'numeric' },
};

/**
 * The one way the dashboard prints a date: in the language's calendar
 * (Persian: Jalali), UTC for days the panel counts in UTC (expiry dates,
 * usage days), the browser's zone otherwise.
 */
export function showDate(when: Date, style: DateStyle, options: { utc?: boolean; language?: string } = {}): string {
  if (Number.isNaN(when.getTime())) {
    return '';
  }
  return new Intl.DateTimeFormat(dateLocale(options.language), { ...dateStyles[style], ...(options.utc ? { timeZone: 'UTC' } : {}) }).format(when);
}

/** A date and time in the chosen language's calendar (Persian: Jalali). */
export function formatTime(iso: string | null | undefined): string {
  if (iso == null) {
    return '';
  }
  const then = new Date(iso);
  return Number.isNaN(then.getTime()) ? iso : showDate(then, 'datetime');
}

/** A date (no time, UTC) in the chosen language's calendar. */
export function formatDate(unixSeconds: number): string {
  return showDate(new Date(unixSeconds * 1000), 'date', { utc: true });
}

/** A "YYYY-MM-DD" UTC day as a chart's axis shows it, in the language's calendar. */
export function formatDay(isoDay: string): string {
  return showDate(new Date(`${isoDay}T00:00:00Z`), 'day', { utc: true });
}

// Date inputs. The form keeps a Gregorian "YYYY-MM-DD" (UTC) day; what the
// operator reads and types is that day in the language's calendar: in
// Persian "1405/01/01" (Persian or Latin digits), otherwise the ISO form.

const jalaliParts = new Intl.DateTimeFormat('fa-IR-u-ca-persian-nu-latn', { timeZone: 'UTC', year: 'numeric', month: 'numeric', day: 'numeric' });

/** The Jalali year, month and day of a UTC day. */
export function toJalali(when: Date): { year: number; month: number; day: number } {
  const out = { year: 0, month: 0, day: 0 };
  for (const p of jalaliParts.formatToParts(when)) {
    if (p.type === 'year' || p.type === 'month' || p.type === 'day') {
      out[p.type] = Number(p.value);
    }
  }
  return out;
}

/**
 * The Gregorian "YYYY-MM-DD" of a Jalali day, or null when there is no such
 * day (1404/12/30 in a common year). The calendar data is the browser's own:
 * the guess from the month lengths is checked against Intl and moved by up
 * to three days, since Nowruz falls on 20, 21 or 22 March.
 */
export function fromJalali(year: number, month: number, day: number): string | null {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day) || year < 1 || year > 9377 || month < 1 || month > 12 || day < 1 || day > (month <= 6 ? 31 : 30)) {
    return null;
  }
  const dayOfYear = (month <= 6 ? (month - 1) * 31 : 186 + (month - 7) * 30) + day - 1;
  const guess = Date.UTC(year + 621, 2, 21) + dayOfYear * 86400_000;
  for (const shift of [0, -1, 1, -2, 2, -3, 3]) {
    const when = new Date(guess + shift * 86400_000);
    const j = toJalali(when);
    if (j.year === year && j.month === month && j.day === day) {
      return when.toISOString().slice(0, 10);
    }
  }
  return null;
}

const persianDigits = '۰۱۲۳۴۵۶۷۸۹';
const arabicDigits = '٠١٢٣٤٥٦٧٨٩';

/** Latin digits for Persian and Arabic-Indic ones. */
export function latinDigits(s: string): string {
  return s.replace(/[۰-۹٠-٩]/g, (c) => String(Math.max(persianDigits.indexOf(c), arabicDigits.indexOf(c))));
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** What a date input shows for a Gregorian "YYYY-MM-DD" day ("" stays ""). */
export function dateInputText(isoDay: string, language: string = i18n.language): string {
  if (isoDay === '' || !language.startsWith('fa')) {
    return isoDay;
  }
  const j = toJalali(new Date(`${isoDay}T00:00:00Z`));
  return `${pad(j.year, 4)}/${pad(j.month)}/${pad(j.day)}`;
}

/**
 * Reads what was typed into a date input: the Gregorian "YYYY-MM-DD" day,
 * "" for an empty input, null when it is no date. Persian reads Jalali
 * "1405/1/1" (or with - or . between, Persian digits too).
 */
export function parseDateInput(text: string, language: string = i18n.language): string | null {
  const s = latinDigits(text.trim());
  if (s === '') {
    return '';
  }
  const m = /^(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,2})$/.exec(s);
  if (!m) {
    return null;
  }
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (language.startsWith('fa')) {
    return fromJalali(y, mo, d);
  }
  const when = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1 || when.getUTCFullYear() !== y || when.getUTCMonth() !== mo - 1 || when.getUTCDate() !== d) {
    return null;
  }
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
}

export function formatCount(n: number): string {
  return new Intl.NumberFormat(i18n.language).format(n);
}

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** "1.5 GiB" for a byte count. */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${byteUnits[unit] ?? 'B'}`;
}

export const gib = 1024 ** 3;

/** "12 min", "3 h", "2 days": a span, in its largest whole unit. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [value, unit] =
    s < 60 ? [s, 'second'] : s < 3600 ? [Math.floor(s / 60), 'minute'] : s < 172800 ? [Math.floor(s / 3600), 'hour'] : [Math.floor(s / 86400), 'day'];
  return new Intl.NumberFormat(i18n.language, { style: 'unit', unit, unitDisplay: 'short' }).format(value);
}
