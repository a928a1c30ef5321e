import { useEffect, useState } from 'react';

/** The current time, renewed every `everyMs`, so relative times on a
 * page ("offline for 12 min") keep moving without a refetch. */
export function useNow(everyMs = 15_000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const id = window.setInterval(() => {
      setNow(new Date());
    }, everyMs);
    return () => {
      window.clearInterval(id);
    };
  }, [everyMs]);
  return now;
}
