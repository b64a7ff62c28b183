import { Query, Resolver } from '@nestjs/graphql';
import { ModelPack } from './model-pack.model';
import { WorkerRegistryService } from './worker-registry.service';

@Resolver(() => ModelPack)
export class WorkersResolver {
  constructor(private readonly registry: WorkerRegistryService) {}

  @Query(() => [ModelPack], {
    description:
      'Model packs that live workers have loaded: name, version, capabilities, limits. Workers scale from zero, so this can be empty.',
  })
  async modelPacks(): Promise<ModelPack[]> {
    return (await this.registry.packs()).map((pack) => ({
      ...pack,
      capabilities: { ...pack.capabilities },
      providers: [...pack.providers],
    }));
  }
}
