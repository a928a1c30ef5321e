import { json } from '@codemirror/lang-json';
import { unifiedMergeView } from '@codemirror/merge';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { useComputedColorScheme } from '@mantine/core';
import CodeMirror from '@uiw/react-codemirror';
import { useMemo } from 'react';

/** JSON text normalized for a diff: parsed and printed with two-space indents, or as it is when it is not JSON. */
export function diffText(value: unknown): string {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/**
 * A read-only unified diff (@codemirror/merge): `modified` with the lines
 * that differ from `original` marked, unchanged stretches collapsed. One
 * column, so it reads at phone width too.
 */
export function JsonDiff({ original, modified, label, height = '55vh' }: { original: string; modified: string; label: string; height?: string }) {
  const scheme = useComputedColorScheme('light');
  const extensions = useMemo(
    () => [
      json(),
      unifiedMergeView({ original, mergeControls: false, highlightChanges: true, gutter: true, collapseUnchanged: { margin: 3, minSize: 6 } }),
      EditorState.readOnly.of(true),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ 'aria-label': label, 'aria-readonly': 'true', tabindex: '0' }),
    ],
    [original, label],
  );
  return (
    <CodeMirror
      value={modified}
      editable={false}
      extensions={extensions}
      theme={scheme === 'dark' ? 'dark' : 'light'}
      height={height}
      basicSetup={{ closeBrackets: false, autocompletion: false, foldGutter: false, highlightActiveLine: false }}
      style={{ border: '1px solid var(--mantine-color-default-border)', borderRadius: 8, overflow: 'hidden' }}
    />
  );
}
