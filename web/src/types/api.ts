// Shapes of the panel's JSON, written by hand for now. They mirror the Go
// types in backend/model; once the API publishes its OpenAPI document these
// are to be generated from it so the two cannot drift.

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
  status: NodeStatus;
  applied_revision: number;
  xray_version: string;
  agent_version?: string;
  message: string;
  /** RFC 3339, or null when the node has never connected. */
  last_seen: string | null;
}

export interface UsersPage {
  users: unknown[];
  total: number;
}
