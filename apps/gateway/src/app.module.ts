import { DynamicModule, Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import type { ApolloDriverConfig } from '@nestjs/apollo';
import { APP_CONFIG, type AppConfig } from './config/config';
import { InfraModule } from './infra/infra.module';
import { RealtimeModule } from './realtime';
import { AuthModule } from './auth/auth.module';
import { HealthController } from './health/health.controller';
import { ViewerModule } from './viewer/viewer.module';
import { IdentityModule } from './identity';
import { ApiKeysModule } from './api-keys';
import { AssetsModule } from './assets/assets.module';
import { WebhooksModule } from './webhooks';
import { AvatarsModule } from './avatars';
import { RendersModule } from './renders';
import { graphqlOptions } from './graphql/graphql.config';
import { GatewayApolloDriver } from './graphql/gateway-apollo.driver';
import { ProtectionModule } from './protection';
import { ObservabilityModule } from './observability';
import { WorkersModule } from './workers';

@Module({})
class ConfigHolder {}

/** The gateway, built from an already validated configuration (see config/config.ts). */
@Module({})
export class AppModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        {
          module: ConfigHolder,
          global: true,
          providers: [{ provide: APP_CONFIG, useValue: config }],
          exports: [APP_CONFIG],
        },
        InfraModule,
        RealtimeModule,
        WorkersModule,
        AuthModule,
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: GatewayApolloDriver,
          ...graphqlOptions(),
        }),
        ViewerModule,
        IdentityModule,
        ApiKeysModule,
        AssetsModule,
        WebhooksModule,
        AvatarsModule,
        RendersModule,
        // Keep after AuthModule: its global guard needs the principal (protection.module.ts).
        ProtectionModule,
        ObservabilityModule,
      ],
      controllers: [HealthController],
    };
  }
}
