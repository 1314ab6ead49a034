// Lint configuration: typescript-eslint's recommended rules over the TypeScript sources.
// `require()` inside functions is allowed on purpose: lazy loading keeps `berth run` fast
// (docs/decisions/004-lazy-loading.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'wasm/build/**', 'wasm/assembly/**', 'wasm/*/assembly/**', 'test/vectors/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-control-regex': 'off',
    },
  },
  {
    // The core never imports a plugin (brief; docs/decisions/005-plugin-wiring.md): plugins are
    // reached through the registry only. Catches import, require() and `typeof import()`.
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error',
        { selector: 'ImportDeclaration[source.value=/(^|\\/)plugins\\//]', message: 'the core never imports a plugin' },
        { selector: "CallExpression[callee.name='require'] > Literal[value=/(^|\\/)plugins\\//]", message: 'the core never imports a plugin' },
        { selector: 'TSImportType Literal[value=/(^|\\/)plugins\\//]', message: 'the core never imports a plugin' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
