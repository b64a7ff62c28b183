export const PUB_SUB = Symbol('PUB_SUB');
