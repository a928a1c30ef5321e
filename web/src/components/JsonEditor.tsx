import { json, jsonParseLinter } from '@codemirror/lang-json';
import { linter } from '@codemirror/lint';
import { EditorView } from '@codemirror/view';
import { useComputedColorScheme } from '@mantine/core';
import CodeMirror from '@uiw/react-codemirror';
import { useMemo } from 'react';

/** A JSON editor (CodeMirror 6) whose editable area is named `label`. */
export function JsonEditor({
  value,
  onChange,
  label,
  height = '60vh',
  onCreateEditor,
}: {
  value: string;
  onChange: (v: string) => void;
  label: string;
  height?: string;
  /** Hands over the editor's view, for pages that mark or scroll to a place in it. */
  onCreateEditor?: (view: EditorView) => void;
}) {
  const scheme = useComputedColorScheme('light');
  const extensions = useMemo(
    () => [json(), linter(jsonParseLinter()), EditorView.lineWrapping, EditorView.contentAttributes.of({ 'aria-label': label, tabindex: '0' })],
    [label],
  );
  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      onCreateEditor={onCreateEditor}
      extensions={extensions}
      theme={scheme === 'dark' ? 'dark' : 'light'}
      height={height}
      basicSetup={{ closeBrackets: false, autocompletion: false }}
      style={{ border: '1px solid var(--mantine-color-default-border)', borderRadius: 8, overflow: 'hidden' }}
    />
  );
}

/** The text parsed as a JSON object, or an Error saying why not. */
export function parseJsonObject(text: string, notJson: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${notJson}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(notJson);
  }
  return value as Record<string, unknown>;
}
