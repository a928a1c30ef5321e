import { useQuery } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
import { useLiveFallback } from '../../lib/events';
import { keys } from '../../lib/queryKeys';

export type SystemStats = Schemas['SystemResponse'];
export type NotificationTarget = Schemas['NotificationTarget'];
export type SubscriptionSettings = Schemas['SubscriptionSettingsResponse'];
export type SubRule = Schemas['Rule'];
export type CustomJSON = Schemas['CustomJSON'];
export type SubFormat = NonNullable<SubRule['format']>;
export type Overview = Schemas['OverviewResponse'];
export type TrafficPoint = Schemas['TrafficPoint'];
export type ActiveAlert = Schemas['AlertJSON'];
export type AlertSettings = Schemas['AlertSettings'];

// Every format the panel renders (the API's enum): a Record, so tsc fails
// when the panel gains a format this list lacks.
const formatSet: Record<SubFormat, true> = { v2ray: true, 'v2ray-json': true, clash: true, 'clash-meta': true, 'sing-box': true, outline: true };
export const subFormats = Object.keys(formatSet) as SubFormat[];

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

/** Fleet alerts that fired and have not resolved (sudo); the events socket says when they change. */
export function useAlerts(enabled = true) {
  return useQuery({
    queryKey: keys.alerts,
    queryFn: ({ signal }) => unwrap(api.GET('/api/alerts', { signal })),
    refetchInterval: useLiveFallback(),
    enabled,
  });
}

export function useAlertSettings() {
  return useQuery({
    queryKey: keys.alertSettings,
    queryFn: ({ signal }) => unwrap(api.GET('/api/alerts/settings', { signal })),
  });
}

export function useSubscriptionSettings() {
  return useQuery({
    queryKey: keys.subscriptionSettings,
    queryFn: ({ signal }) => unwrap(api.GET('/api/subscription/settings', { signal })),
  });
}

/** The dashboard's first page in one request. */
export function useOverview() {
  return useQuery({
    queryKey: keys.overview,
    queryFn: ({ signal }) => unwrap(api.GET('/api/overview', { signal })),
    refetchInterval: useLiveFallback(),
  });
}

/**
 * Which format (and which rule) a User-Agent gets by the draft rules; the
 * panel compiles them, so a rule it would refuse is an error here too.
 */
export function useRuleTest(userAgent: string, rules: SubRule[], customJson: CustomJSON) {
  return useQuery({
    queryKey: keys.ruleTest(userAgent, { rules, customJson }),
    queryFn: ({ signal }) => unwrap(api.POST('/api/subscription/settings/test', { body: { user_agent: userAgent, rules, custom_json: customJson }, signal })),
    enabled: userAgent !== '',
    retry: false,
    placeholderData: (prev) => prev,
  });
}

export const systemRequests = {
  putSubscriptionSettings: (body: SubscriptionSettings) => unwrap(api.PUT('/api/subscription/settings', { body })),
  putAlertSettings: (body: AlertSettings) => unwrap(api.PUT('/api/alerts/settings', { body })),
};
