import { EXIT, exitCodeOf } from './errors.ts';
import { commands } from './commands/index.ts';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 8);
  return [
    'usage: signals <command> [options]    (signals <command> --help for its options)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input, 4 shape mismatch, 5 run_id mismatch,',
    '            6 not enough data, 7 non-finite values, 8 service unavailable, 9 checksum mismatch, 10 not found,',
    '            11 stopped without a clean drain (stop timed out)',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`signals: unknown command ${JSON.stringify(name)}\n\n${help()}\n`);
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return EXIT.ok;
  }
  return command.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // ConfigError carries EXIT.usage itself.
  const code = exitCodeOf(err);
  if (code !== undefined) {
    process.stderr.write(`signals: ${(err as Error).message}\n`);
    process.exitCode = code;
  } else {
    process.stderr.write(`signals: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = EXIT.internal;
  }
}
