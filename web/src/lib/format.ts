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

/** A date and time in the chosen language's calendar (Persian: Jalali). */
export function formatTime(iso: string | null | undefined): string {
  if (iso == null) {
    return '';
  }
  const then = new Date(iso);
  return Number.isNaN(then.getTime()) ? iso : then.toLocaleString(i18n.language);
}

/** A date (no time) in the chosen language's calendar. */
export function formatDate(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleDateString(i18n.language, { timeZone: 'UTC' });
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
