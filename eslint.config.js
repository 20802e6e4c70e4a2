// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import path from 'node:path';
import { wrongWay } from './scripts/layers.js';

/**
 * `sidegate/layers`: a relative import that points the wrong way between layers (the table and
 * the reasons are in scripts/layers.js) fails the lint. Like no-restricted-imports, but judged on
 * the resolved path, so a rule holds at any depth of a layer's folders.
 * @type {import('eslint').Rule.RuleModule}
 */
const layers = {
  meta: { type: 'problem', schema: [], messages: { wrongWay: 'Wrong-way import of {{to}}: {{why}}.' } },
  create(context) {
    const from = path
      .relative(import.meta.dirname, context.filename)
      .split(path.sep)
      .join('/');
    /** @param {{ source?: unknown }} node */
    const check = (node) => {
      const src = /** @type {{ type?: string, value?: unknown } | null | undefined} */ (node.source);
      if (src?.type !== 'Literal' || typeof src.value !== 'string' || !src.value.startsWith('.')) return;
      const to = path.posix.normalize(path.posix.join(path.posix.dirname(from), src.value)).replace(/\.js$/, '.ts');
      const why = wrongWay(from, to);
      if (why !== undefined) context.report({ node: /** @type {import('estree').Node} */ (src), messageId: 'wrongWay', data: { to, why } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'charts/', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { sidegate: { rules: { layers } } },
    rules: { 'sidegate/layers': 'error' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // tap's top-level t.test() calls return promises tap itself tracks.
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
    },
  },
);
