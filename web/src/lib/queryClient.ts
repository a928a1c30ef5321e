import { QueryClient } from '@tanstack/react-query';
import { ApiError } from './api/client';

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // The events socket invalidates what changed and refetches after
      // every (re)connection; only while it is down do pages ask for a
      // slow refetch (useLiveFallback in lib/events.ts).
      staleTime: 30_000,
      // A refusal (4xx) will not change on a retry; a dropped connection may.
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});
