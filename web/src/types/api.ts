// Shapes of the panel's JSON, written by hand: they name the fields the
// dashboard uses. web/e2e checks every interface here against the panel's
// /openapi.json (generated from the Go types), so they cannot drift
// unnoticed. (openapi-typescript, the generator, does not accept
// TypeScript 6 yet.)

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
}

export interface Admin {
  username: string;
  is_sudo: boolean;
  telegram_id: number | null;
  discord_webhook: string | null;
  users_usage: number;
}

export type NodeStatus = 'connected' | 'connecting' | 'error' | 'disabled';

export interface PanelNode {
  id: number;
  name: string;
  address: string;
  /** Traffic through the node is counted times this. */
  usage_coefficient: number;
  status: NodeStatus;
  applied_revision: number;
  xray_version: string;
  agent_version?: string;
  message: string;
  /** RFC 3339, or null when the node has never connected. */
  last_seen: string | null;
}

export type UserStatus = 'active' | 'disabled' | 'limited' | 'expired' | 'on_hold';

export const protocols = ['vless', 'vmess', 'trojan', 'shadowsocks'] as const;
export type Protocol = (typeof protocols)[number];

export interface User {
  username: string;
  status: UserStatus;
  proxies: Partial<Record<Protocol, Record<string, string>>>;
  inbounds: Partial<Record<Protocol, string[]>>;
  /** Unix seconds; 0 or null: never. */
  expire: number | null;
  /** Bytes; 0 or null: unlimited. */
  data_limit: number | null;
  data_limit_reset_strategy: string;
  used_traffic: number;
  lifetime_used_traffic: number;
  created_at: string;
  note: string | null;
  online_at: string | null;
  sub_updated_at: string | null;
  /** The User-Agent of the client that last fetched the subscription. */
  sub_last_user_agent: string | null;
  subscription_url: string;
  links: string[];
  admin: Admin | null;
  /** Days after it runs out (limited or expired) that the user is deleted; null: never. */
  auto_delete_in_days: number | null;
  next_plan: NextPlan | null;
}

/** What a user gets once its limit or expiry runs out (Marzban's next_plan). */
export interface NextPlan {
  /** Bytes; 0: unlimited. */
  data_limit: number;
  /** Seconds from the moment the plan starts; 0: never expires. */
  expire: number;
  /** Carry the unused part of the old limit into the new one. */
  add_remaining_traffic: boolean;
  /** Start when either the limit or the expiry is reached, not only the limit. */
  fire_on_either: boolean;
}

/** One inbound of the core config (GET /api/inbounds groups them by protocol). */
export interface InboundSummary {
  tag: string;
  protocol: string;
  network: string;
  tls: string;
  port: number;
}

/** Bytes a user (or several) sent and received through one node. */
export interface NodeUsage {
  node_id: number | null;
  node_name: string;
  used_traffic: number;
}

export interface UserUsageResponse {
  username: string;
  usages: NodeUsage[];
}

export interface UsersPage {
  users: User[];
  total: number;
}

/** Bytes through one node (GET /api/nodes/usage). */
export interface NodeUsageItem {
  node_id: number | null;
  node_name: string;
  uplink: number;
  downlink: number;
}

export interface NodesUsageResponse {
  usages: NodeUsageItem[];
}

/** One UTC day of a user's traffic (GET /api/user/{username}/usage/daily). */
export interface DayUsage {
  /** YYYY-MM-DD, UTC. */
  date: string;
  used_traffic: number;
}

export interface UserDailyUsageResponse {
  username: string;
  /** Days without traffic are left out. */
  days: DayUsage[];
}
