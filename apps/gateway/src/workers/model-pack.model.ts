import { Field, Int, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'What a model pack can do (DESIGN.md "The render pipeline").' })
export class ModelPackCapabilities {
  @Field({ description: 'Renders condition on the avatar identity embedding.' })
  identity!: boolean;
  @Field({ description: 'RenderInput.motion (expression, body) is honoured.' })
  motion!: boolean;
  @Field(() => Int, { description: 'Largest output side in pixels (RenderInput.maxSide).' })
  maxSide!: number;
}

@ObjectType({ description: 'A model pack that live render workers have loaded.' })
export class ModelPack {
  @Field({ description: 'The name RenderInput.modelPack takes.' }) name!: string;
  @Field({ description: 'Recorded with every render.' }) version!: string;
  @Field(() => ModelPackCapabilities) capabilities!: ModelPackCapabilities;
  @Field(() => Int, { description: 'Output frame rate.' }) fps!: number;
  @Field(() => Int, { description: 'Frames rendered per clip; longer audio is chained clips.' })
  maxFramesPerClip!: number;
  @Field(() => Int, { description: 'Live workers with this pack loaded.' }) workers!: number;
  @Field(() => [String], { description: 'Execution providers of those workers (cpu, cuda).' })
  providers!: string[];
}
