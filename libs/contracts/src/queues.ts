/** BullMQ queues (DESIGN.md "Scale and operations"). */
export const QueueName = {
  Render: 'render',
  Avatar: 'avatar',
  Webhook: 'webhook',
  Billing: 'billing',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

/** Job names, each owned by exactly one queue. */
export const JobName = {
  AvatarPrepare: 'avatar.prepare',
  Render: 'render',
  WebhookDeliver: 'webhook.deliver',
  BillingMeter: 'billing.meter',
} as const;
export type JobName = (typeof JobName)[keyof typeof JobName];

export const queueOfJob: Readonly<Record<JobName, QueueName>> = {
  [JobName.AvatarPrepare]: QueueName.Avatar,
  [JobName.Render]: QueueName.Render,
  [JobName.WebhookDeliver]: QueueName.Webhook,
  [JobName.BillingMeter]: QueueName.Billing,
};

export const allJobNames: readonly JobName[] = Object.values(JobName);
