// Lint: the rule that matters most here is no-floating-promises (an un-awaited
// publish or ack is a bug). Type-aware, so it runs with the project's tsconfig.
// The layout rules below keep the folders honest: code outside a folder imports only
// its door (`index.ts`), and layers run one way: config, market -> models -> streams,
// sql, ops -> features (actors/*) -> system (actors/system), dashboard -> cli, bench. Tests may
// reach inside.
import tseslint from 'typescript-eslint';

/** A relative import into another folder that is not its door. */
const AROUND_A_DOOR = {
  regex: '^(\\.\\./)+([^./][^/]*/)+(?!index\\.ts$)[^/]+\\.ts$',
  message: 'import another folder through its door (index.ts)',
};
const above = (folders, why) => ({ regex: `^(\\.\\./)+(${folders.join('|')})/`, message: `layers run one way: ${why}` });

// Imports that still run against the layers, named so that no new one can join them:
// market builds NATS messages with streams' schemas, model inference reads artifacts
// through sql, the bus metrics decode quality events, and benchmarks start their
// servers with the test helpers.
const KNOWN_EXCEPTIONS = ['market/bar-to-ticks.ts', 'market/replay-messages.ts', 'models/inference.ts', 'ops/bus-metrics.ts', 'bench/*.ts'];

const layer = (files, forbidden, why) => ({
  files,
  ignores: KNOWN_EXCEPTIONS,
  rules: { 'no-restricted-imports': ['error', { patterns: [AROUND_A_DOOR, above(forbidden, why)] }] },
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'artifacts/**', '.data/**', 'bin/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  layer(['config/**/*.ts', 'market/**/*.ts'], ['models', 'streams', 'sql', 'ops', 'actors', 'cli', 'bench'], 'config and market are the bottom layer'),
  layer(['models/**/*.ts'], ['streams', 'sql', 'ops', 'actors', 'cli', 'bench'], 'models may use only config and market'),
  layer(['streams/**/*.ts', 'sql/**/*.ts', 'ops/**/*.ts'], ['actors', 'cli', 'bench'], 'streams, sql and ops are below the features'),
  layer(['actors/ingest/**/*.ts', 'actors/quality/**/*.ts', 'actors/prediction/**/*.ts', 'actors/lifecycle/**/*.ts'], ['system', 'cli', 'bench'], 'a feature never imports the system root, the CLI or benchmarks'),
  layer(['actors/system/**/*.ts'], ['cli', 'bench'], 'the system root never imports the CLI or benchmarks'),
  layer(['dashboard/**/*.ts'], ['cli', 'bench', 'test'], 'the dashboard reads the features and never imports the CLI, benchmarks or tests'),
  layer(['cli/**/*.ts', 'bench/**/*.ts'], ['test'], 'production and benchmarks never import tests'),
);
