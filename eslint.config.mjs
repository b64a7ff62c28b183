// One flat config for the whole workspace. Module boundaries follow ../shared/DESIGN.md:
// apps import libs; gpu-workers import only contracts, pipeline, model-zoo and storage;
// pipeline imports only contracts; nothing imports an app; only libs/db touches Prisma.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: [
      '**/dist',
      '**/node_modules',
      '**/.data',
      '**/coverage',
      '**/generated/**',
      '**/vite.config.*.timestamp*',
      '**/*.cjs',
      '**/*.mjs',
    ],
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          banTransitiveDependencies: true,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib'] },
            {
              sourceTag: 'type:worker',
              onlyDependOnLibsWithTags: [
                'lib:contracts',
                'lib:pipeline',
                'lib:model-zoo',
                'lib:storage',
              ],
            },
            { sourceTag: 'lib:contracts', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'lib:pipeline', onlyDependOnLibsWithTags: ['lib:contracts'] },
            { sourceTag: 'lib:model-zoo', onlyDependOnLibsWithTags: ['lib:contracts'] },
            { sourceTag: 'lib:storage', onlyDependOnLibsWithTags: ['lib:contracts'] },
            { sourceTag: 'lib:db', onlyDependOnLibsWithTags: ['lib:contracts'] },
            { sourceTag: 'lib:billing', onlyDependOnLibsWithTags: ['lib:contracts', 'lib:db'] },
          ],
        },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: false, requireDefaultForNonUnion: true },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'off',
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: '@prisma/client', message: 'Only libs/db may use the Prisma client.' }],
          patterns: [
            { group: ['@prisma/client/*'], message: 'Only libs/db may use the Prisma client.' },
          ],
        },
      ],
    },
  },
  {
    // libs/db is the one place that owns the Prisma client.
    files: ['libs/db/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
];
