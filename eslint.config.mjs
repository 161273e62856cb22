// Typed lint rules over the whole TypeScript tree; the core may not import VS Code or the DAP library.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.*', '.cache/**', 'guests/**', 'test-results/**', '**/*.mjs', '**/*.js', '**/*.mts'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-implied-eval': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      // The CPU compares plain numbers (decoded instruction descriptors) with iced-x86's numeric enums.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Guest faults and machine stops are thrown as plain objects on purpose: no stack capture on the hot path.
      '@typescript-eslint/only-throw-error': [
        'error',
        { allow: [{ from: 'file', name: ['GuestFault', 'MachineStop', 'StopBeforeAccess'] }] },
      ],
    },
  },
  {
    files: ['adapter/core/**/*.ts', 'adapter/hooks/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'vscode', message: 'The core must not depend on VS Code.' },
            { name: '@vscode/debugadapter', message: 'The core must not depend on the DAP library.' },
          ],
          patterns: [
            {
              group: ['**/session/**', '**/src/**'],
              message: 'Dependencies point from the session to the core, not back.',
            },
          ],
        },
      ],
    },
  },
);
