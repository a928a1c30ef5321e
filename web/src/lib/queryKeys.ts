// Every query key the dashboard uses, in one place, so the events reducer
// and the mutations invalidate exactly what the pages read.

export const keys = {
  admin: ['admin'] as const,
  admins: ['admins'] as const,
  system: ['system'] as const,
  /** Every page of the users table (a prefix of usersPage). */
  users: ['users'] as const,
  usersPage: (params: object) => ['users', params] as const,
  user: (username: string) => ['user', username] as const,
  /** Under user(username): a reset of the user refreshes its history. */
  userResets: (username: string, page: number) => ['user', username, 'resets', page] as const,
  /** Under user(username): the user's devices (HWID registry). */
  userDevices: (username: string) => ['user', username, 'devices'] as const,
  /** Under user(username): the addresses it was seen from. */
  userIPs: (username: string) => ['user', username, 'ips'] as const,
  ipLimitSettings: ['ip-limit-settings'] as const,
  /** Every single user's query (a prefix of user). */
  anyUser: ['user'] as const,
  /** Every usage query (users' and nodes'). */
  usage: ['usage'] as const,
  userUsage: (username: string, days: number) => ['usage', 'user', username, days] as const,
  userDaily: (username: string) => ['usage', 'daily', username] as const,
  nodesUsage: (days: number) => ['usage', 'nodes', days] as const,
  /** Every node query: the list and each node's own (a prefix of node). */
  nodes: ['nodes'] as const,
  node: (id: number) => ['nodes', id] as const,
  /** A node's traffic on one finished UTC day: it no longer changes. */
  nodesDay: (day: string) => ['nodes-day', day] as const,
  nodeSettings: ['node-settings'] as const,
  inbounds: ['inbounds'] as const,
  templates: ['templates'] as const,
  coreConfig: ['core-config'] as const,
  coreConfigHistory: ['core-config-history'] as const,
  coreConfigVersion: (id: number) => ['core-config-version', id] as const,
  hosts: ['hosts'] as const,
  hostsPreview: (draft: object, username: string) => ['hosts-preview', draft, username] as const,
  notifications: ['notifications'] as const,
  alerts: ['alerts'] as const,
  alertSettings: ['alert-settings'] as const,
  subscriptionSettings: ['subscription-settings'] as const,
  ruleTest: (userAgent: string, rules: object) => ['subscription-rule-test', userAgent, rules] as const,
  overview: ['overview'] as const,
  audit: (filter: object) => ['audit', filter] as const,
  totp: ['account', 'totp'] as const,
  apiKeys: ['account', 'keys'] as const,
  sessions: ['account', 'sessions'] as const,
  backups: ['backups'] as const,
};
