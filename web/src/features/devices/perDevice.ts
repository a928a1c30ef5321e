// "Credentials per device" as a user or a template sets it: its own
// choice (true, false) or the global default (null), and the three
// values the dashboard's control offers for it.

export type PerDeviceChoice = 'default' | 'on' | 'off';

export const perDeviceChoices: readonly PerDeviceChoice[] = ['default', 'on', 'off'];

/** The control's value for the API's per_device_credentials. */
export function perDeviceChoice(value: boolean | null | undefined): PerDeviceChoice {
  if (value == null) {
    return 'default';
  }
  return value ? 'on' : 'off';
}

/** The API's per_device_credentials for the control's value (null: the global default). */
export function perDeviceValue(choice: PerDeviceChoice): boolean | null {
  return choice === 'default' ? null : choice === 'on';
}

export function isPerDeviceChoice(s: string): s is PerDeviceChoice {
  return (perDeviceChoices as readonly string[]).includes(s);
}

/** The first characters of a credential, enough to tell devices apart in a table. */
export function shortCredential(credential: string): string {
  return credential.length > 13 ? `${credential.slice(0, 8)}…${credential.slice(-4)}` : credential;
}
