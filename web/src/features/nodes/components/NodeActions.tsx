import { useState } from 'react';
import { ApiError } from '../../../lib/api';
import { errorText, FormFooter, TextField, useSubmit } from '../../../lib/actions';
import type { PanelNode } from '../../../types/api';
import { createNode, deleteNode, modifyNode, reconnectNode, rotateNodeToken, type NodeSettings } from '../api';

interface NodeActionsProps {
  token: string;
  onUnauthorized: () => void;
  onChanged: () => void;
}

/** A node token to hand to the node's operator, shown once. */
export interface IssuedToken {
  node: string;
  token: string;
}

/** The certificate pin a node needs: set only when the panel serves a
 * self-signed certificate itself (a publicly trusted one must not be
 * pinned, or its renewal would cut every node off). */
export function certificatePin(settings: NodeSettings | null): string {
  if (settings === null || settings.certificate_sha256 === '' || settings.certificate_publicly_trusted) {
    return '';
  }
  return settings.certificate_sha256;
}

/** The command that starts a node against this panel. */
export function nodeCommand(t: IssuedToken, settings: NodeSettings | null): string {
  const pin = certificatePin(settings);
  return `bin/node --panel ${window.location.origin} --token ${t.token}${pin ? ` --panel-cert-sha256 ${pin}` : ''}`;
}

export function TokenNotice({ issued, settings, onDone }: { issued: IssuedToken; settings: NodeSettings | null; onDone: () => void }) {
  return (
    <div className="notice token-notice" role="status" aria-label="Node token">
      <p>
        Token of <strong>{issued.node}</strong>, shown only now (the panel keeps a hash). Start the node with:
      </p>
      <pre>
        <code>{nodeCommand(issued, settings)}</code>
      </pre>
      {certificatePin(settings) && (
        <p className="muted small">
          The panel&apos;s certificate is self-signed, so the node pins it by its SHA-256. A new certificate needs new node
          commands.
        </p>
      )}
      <button type="button" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

/** The coefficient typed into a node form, or the error to show. */
function coefficientOf(text: string): number {
  const c = Number(text);
  if (!Number.isFinite(c) || c <= 0) {
    throw new Error('Usage coefficient: a number above 0 (1 counts traffic as it is).');
  }
  return c;
}

/** Runs a node form's request; an expired session goes to onUnauthorized
 * instead of showing in the form. */
async function guarded(onUnauthorized: () => void, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof ApiError && err.unauthorized) {
      onUnauthorized();
      return;
    }
    throw err;
  }
}

/** "New node": name and usage coefficient, then the token. */
export function NewNodeForm({ token, onUnauthorized, onChanged, onIssued, onCancel }: NodeActionsProps & {
  onIssued: (t: IssuedToken) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [coefficient, setCoefficient] = useState('1');
  const submit = useSubmit(async () => {
    const c = coefficientOf(coefficient);
    await guarded(onUnauthorized, async () => {
      const n = await createNode(token, name.trim(), c);
      onIssued({ node: n.name, token: n.token });
      onChanged();
    });
  });
  const { error, busy } = submit;

  return (
    <form className="card user-form" aria-label="New node" onSubmit={submit.onSubmit}>
      <h3>New node</h3>
      <TextField label="Name" name="name" value={name} onChange={setName} required />
      <TextField label="Usage coefficient" name="usage_coefficient" value={coefficient} onChange={setCoefficient} inputMode="decimal" />
      <FormFooter error={error} busy={busy} submitLabel="Create" onCancel={onCancel} />
    </form>
  );
}

/** "Edit": the name, address (what links and the list show) and usage coefficient. */
export function EditNodeForm({ node, token, onUnauthorized, onChanged, onDone }: NodeActionsProps & {
  node: PanelNode;
  onDone: () => void;
}) {
  const [name, setName] = useState(node.name);
  const [address, setAddress] = useState(node.address);
  const [coefficient, setCoefficient] = useState(String(node.usage_coefficient));
  const submit = useSubmit(async () => {
    const c = coefficientOf(coefficient);
    await guarded(onUnauthorized, async () => {
      await modifyNode(token, node.id, { name: name.trim(), address: address.trim(), usage_coefficient: c });
      onChanged();
      onDone();
    });
  });
  const { error, busy } = submit;

  return (
    <form className="card user-form" aria-label={`Edit node ${node.name}`} onSubmit={submit.onSubmit}>
      <h3>Edit node {node.name}</h3>
      <TextField label="Name" name="name" value={name} onChange={setName} required />
      <TextField label="Address" name="address" value={address} onChange={setAddress} />
      <TextField label="Usage coefficient" name="usage_coefficient" value={coefficient} onChange={setCoefficient} inputMode="decimal" />
      <FormFooter error={error} busy={busy} submitLabel="Save" onCancel={onDone} />
    </form>
  );
}

/** The panel's built-in node (backend/app LocalNodeName, on loopback). */
function isBuiltIn(node: PanelNode): boolean {
  return node.name === 'local' && node.address === '127.0.0.1';
}

/** Per-node buttons: edit, reconnect, a new token (cuts the old one) and delete. */
export function NodeRowActions({ node, token, onUnauthorized, onChanged, onIssued, onError, onEdit }: NodeActionsProps & {
  node: PanelNode;
  onIssued: (t: IssuedToken) => void;
  onError: (message: string) => void;
  onEdit: () => void;
}) {
  async function run(action: () => Promise<void>) {
    try {
      await action();
      onChanged();
    } catch (err) {
      if (err instanceof ApiError && err.unauthorized) {
        onUnauthorized();
        return;
      }
      onError(errorText(err));
    }
  }
  if (isBuiltIn(node)) {
    // The panel's built-in node (--local-node) gets a fresh token at every
    // start; a new one now would cut it off until the panel restarts.
    return <span className="muted small">built in</span>;
  }
  return (
    <span className="row-actions">
      <button type="button" onClick={onEdit}>
        Edit
      </button>
      <button
        type="button"
        onClick={() => {
          if (window.confirm(`Reconnect ${node.name}? Its session with the panel restarts; its Xray keeps running, so no user is cut off.`)) {
            void run(async () => {
              await reconnectNode(token, node.id);
            });
          }
        }}
      >
        Reconnect
      </button>
      <button
        type="button"
        onClick={() => {
          if (window.confirm(`Issue a new token for ${node.name}? The current one stops working at once.`)) {
            void run(async () => {
              const t = await rotateNodeToken(token, node.id);
              onIssued({ node: node.name, token: t.token });
            });
          }
        }}
      >
        New token
      </button>
      <button
        type="button"
        className="danger"
        onClick={() => {
          if (window.confirm(`Delete node ${node.name}? It is disconnected and forgotten.`)) {
            void run(async () => {
              await deleteNode(token, node.id);
            });
          }
        }}
      >
        Delete
      </button>
    </span>
  );
}
