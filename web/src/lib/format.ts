const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

const steps: [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Number.POSITIVE_INFINITY],
];

/** "3 minutes ago" for an RFC 3339 time; "never" for null. */
export function timeAgo(iso: string | null, now: Date = new Date()): string {
  if (iso === null) {
    return 'never';
  }
  const then = new Date(iso);
  if (Number.isNaN(then.getTime())) {
    return 'unknown';
  }
  let value = (then.getTime() - now.getTime()) / 1000;
  for (const [unit, size] of steps) {
    if (Math.abs(value) < size) {
      return relative.format(Math.round(value), unit);
    }
    value /= size;
  }
  return then.toLocaleString();
}

export function formatTime(iso: string | null): string {
  if (iso === null) {
    return '';
  }
  const then = new Date(iso);
  return Number.isNaN(then.getTime()) ? iso : then.toLocaleString();
}

const integer = new Intl.NumberFormat();

export function formatCount(n: number): string {
  return integer.format(n);
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
