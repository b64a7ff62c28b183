import { DynamicModule, Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { APP_CONFIG, type AppConfig } from './config/config';
import { InfraModule } from './infra/infra.module';
import { AuthModule } from './auth/auth.module';
import { HealthController } from './health/health.controller';
import { ViewerModule } from './viewer/viewer.module';
import { graphqlOptions } from './graphql/graphql.config';

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
        AuthModule,
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, ...graphqlOptions() }),
        ViewerModule,
      ],
      controllers: [HealthController],
    };
  }
}
