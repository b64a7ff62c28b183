import { ConflictException, NotFoundException } from '../errors/likeness.exception';

/** Unknown id, or another tenant's: the two are indistinguishable on purpose. */
export class WebhookEndpointNotFoundException extends NotFoundException {
  constructor(field = 'id') {
    super('No such webhook endpoint', field);
  }
}

export class WebhookDeliveryNotFoundException extends NotFoundException {
  constructor(field = 'deliveryId') {
    super('No such webhook delivery', field);
  }
}

/** The endpoint's state forbids it (disabled endpoint, endpoint limit reached). */
export class WebhookConflictException extends ConflictException {}
