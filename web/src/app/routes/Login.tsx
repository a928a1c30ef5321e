import { Alert, Button, Center, Group, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { login, SecondFactorNeeded } from '../../features/auth/api';
import { saveToken, useToken } from '../../lib/session';
import { LanguagePicker, ThemePicker } from '../Shell';

export function LoginPage() {
  const { t } = useTranslation();
  const token = useToken();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  // Shown once the panel says the password was right and a code is needed.
  const [askOtp, setAskOtp] = useState(false);
  const next = params.get('next') ?? '/';
  const signIn = useMutation({
    mutationFn: () => login(username, password, askOtp ? otp.trim() : ''),
    onSuccess: (newToken) => {
      saveToken(newToken);
      void navigate(next.startsWith('/') ? next : '/', { replace: true });
    },
    onError: (err) => {
      if (err instanceof SecondFactorNeeded) {
        setAskOtp(true);
      }
    },
  });
  const otpPrompt = signIn.error instanceof SecondFactorNeeded && signIn.error.reason === 'required';
  if (token !== null && !signIn.isPending) {
    return <Navigate to={next.startsWith('/') ? next : '/'} replace />;
  }
  function submit(e: SyntheticEvent) {
    e.preventDefault();
    signIn.mutate();
  }
  return (
    <Center mih="100vh" p="md" component="main">
      <Paper withBorder shadow="sm" p="lg" w="100%" maw={380}>
        <form onSubmit={submit} aria-label={t('login.title')}>
          <Stack>
            <Group justify="space-between">
              <Title order={1} size="h3">
                {t('login.title')}
              </Title>
              <LanguagePicker />
            </Group>
            {params.get('expired') && !signIn.error && (
              <Alert color="yellow" role="status">
                {t('login.expired')}
              </Alert>
            )}
            <TextInput
              label={t('login.username')}
              value={username}
              onChange={(e) => {
                setUsername(e.currentTarget.value);
              }}
              autoComplete="username"
              required
              autoFocus
            />
            <PasswordInput
              visibilityToggleButtonProps={{ 'aria-label': t('common.togglePassword') }}
              label={t('login.password')}
              value={password}
              onChange={(e) => {
                setPassword(e.currentTarget.value);
              }}
              autoComplete="current-password"
              required
            />
            {askOtp && (
              <TextInput
                label={t('login.code')}
                description={t('login.codeHint')}
                value={otp}
                onChange={(e) => {
                  setOtp(e.currentTarget.value);
                }}
                autoComplete="one-time-code"
                inputMode="numeric"
                required
                autoFocus
                data-autofocus
              />
            )}
            {signIn.error && !otpPrompt && (
              <Alert color="red" role="alert">
                {signIn.error.message}
              </Alert>
            )}
            <Button type="submit" loading={signIn.isPending}>
              {askOtp ? t('login.verify') : t('login.signIn')}
            </Button>
            <ThemePicker />
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
