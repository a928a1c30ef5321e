import { ActionIcon, Button, CopyButton, Group, Modal, Stack, Text, Tooltip } from '@mantine/core';
import QRCode from 'qrcode';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';

export function Copy({ value, label }: { value: string; label: string }) {
  const { t } = useTranslation();
  return (
    <CopyButton value={value} timeout={1500}>
      {({ copied, copy }) => (
        <Button size="compact-xs" variant={copied ? 'filled' : 'light'} color={copied ? 'teal' : undefined} onClick={copy} aria-label={t('common.copyOf', { what: label })}>
          {copied ? t('common.copied') : t('common.copy')}
        </Button>
      )}
    </CopyButton>
  );
}

export function QrCanvas({ value, label }: { value: string; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (canvas.current) {
      QRCode.toCanvas(canvas.current, value, { width: 320, margin: 2, errorCorrectionLevel: 'M' }).catch((err: unknown) => {
        setError(String(err));
      });
    }
  }, [value]);
  return error ? <Text c="red">{error}</Text> : <canvas ref={canvas} role="img" aria-label={label} style={{ maxWidth: '100%', background: '#fff' }} />;
}

/** A QR code of `value` in a dialog, for a phone to scan off the screen. */
export function QrButton({ value, label }: { value: string; label: string }) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Tooltip label={t('common.qr')}>
        <ActionIcon
          variant="light"
          size="sm"
          aria-label={t('common.qrOf', { what: label })}
          onClick={() => {
            setOpen(true);
          }}
        >
          <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
            <path fill="currentColor" d="M3 3h8v8H3zm2 2v4h4V5zm8-2h8v8h-8zm2 2v4h4V5zM3 13h8v8H3zm2 2v4h4v-4zm13-2h3v2h-3zm-5 0h3v3h-3zm3 3h2v2h-2zm2 2h3v3h-3zm-5 1h3v2h-3z" />
          </svg>
        </ActionIcon>
      </Tooltip>
      <Modal
        closeButtonProps={{ 'aria-label': t('common.close') }}
        opened={open}
        onClose={() => {
          setOpen(false);
        }}
        title={label}
        centered
      >
        <Stack align="center">
          <QrCanvas value={value} label={t('common.qrImage', { what: label })} />
          <Text size="xs" style={{ wordBreak: 'break-all' }}>
            {value}
          </Text>
        </Stack>
      </Modal>
    </>
  );
}

/** A value with copy and QR buttons. */
export function CopyQrRow({ value, label }: { value: string; label: string }) {
  return (
    <Group gap="xs" wrap="nowrap" align="center">
      <Copy value={value} label={label} />
      <QrButton value={value} label={label} />
      <Text size="sm" ff="monospace" truncate style={{ minWidth: 0, flex: 1 }} title={value}>
        {value}
      </Text>
    </Group>
  );
}
