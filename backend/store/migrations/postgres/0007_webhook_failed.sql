-- Given-up notifications, counted per target by GET /api/notifications
-- (store.WebhookTargetStats) without scanning the delivered ones. Keep in
-- step with the other engine's 0007_webhook_failed.sql.
CREATE INDEX webhook_outbox_failed ON webhook_outbox (failed_at) WHERE failed_at IS NOT NULL;
