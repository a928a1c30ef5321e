import { QueryClient } from '@tanstack/react-query';
import { ApiError } from './api/client';

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // The events socket invalidates what changed; until it is up, pages
      // ask for a slow refetch (see useLiveFallback).
      staleTime: 30_000,
      // A refusal (4xx) will not change on a retry; a dropped connection may.
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});
