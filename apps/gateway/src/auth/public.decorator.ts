import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'likeness:isPublic';
/** Marks a handler or controller as reachable without credentials. Everything else needs them. */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(IS_PUBLIC, true);
