import { useQuery } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
import { useLiveFallback } from '../../lib/events';
import { keys } from '../../lib/queryKeys';

export type SystemStats = Schemas['SystemResponse'];
export type NotificationTarget = Schemas['NotificationTarget'];
export type SubscriptionSettings = Schemas['SubscriptionSettingsResponse'];

export function useSystem() {
  return useQuery({
    queryKey: keys.system,
    queryFn: ({ signal }) => unwrap(api.GET('/api/system', { signal })),
    refetchInterval: useLiveFallback(),
  });
}

export function useNotifications(enabled = true) {
  return useQuery({
    queryKey: keys.notifications,
    queryFn: ({ signal }) => unwrap(api.GET('/api/notifications', { signal })),
    refetchInterval: useLiveFallback(),
    enabled,
  });
}

export function useSubscriptionSettings() {
  return useQuery({
    queryKey: keys.subscriptionSettings,
    queryFn: ({ signal }) => unwrap(api.GET('/api/subscription/settings', { signal })),
  });
}

export const systemRequests = {
  putSubscriptionSettings: (body: SubscriptionSettings) => unwrap(api.PUT('/api/subscription/settings', { body })),
};
