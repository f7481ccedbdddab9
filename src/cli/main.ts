#!/usr/bin/env node
/**
 * The `shmring` command: see, follow, diagnose and safely clean up shared-memory rings.
 * One file per subcommand in this folder; this one wires them into commander and maps every failure to
 * an exit code (see EXIT_CODES_HELP).
 */
import { Command, CommanderError } from 'commander';
import { CliError, EXIT_CODES_HELP, ExitCode, jsonError, printJson, reportError } from './common';
import { registerDoctor } from './doctor';
import { registerGc } from './gc';
import { registerInspect } from './inspect';
import { registerLs } from './ls';
import { registerMetrics } from './metrics';
import { registerRm } from './rm';
import { registerTail } from './tail';
import { registerTop } from './top';

function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('shmring')
    .description('See, follow, diagnose and safely clean up shmring shared-memory rings in /dev/shm.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .addHelpText(
      'after',
      `
Examples:
  $ shmring ls                      every ring: producer, consumers, rate, who maps it
  $ shmring inspect /telemetry      header, counters, consumers, a picture of the ring
  $ shmring tail /telemetry -n 5    follow without holding the producer back
  $ shmring top                     live view of all rings
  $ shmring rm /telemetry           remove a ring nothing alive uses
  $ shmring gc --dry-run            what a cleanup after crashes would remove
  $ shmring doctor                  is this machine set up for shared memory?
  $ shmring metrics --listen 127.0.0.1:9464   serve every ring's counters to Prometheus

Every command takes --json for scripts; colour only on a terminal (NO_COLOR disables it).
${EXIT_CODES_HELP}

Docs: docs/operations.md`,
    );
  registerLs(program);
  registerInspect(program);
  registerTail(program);
  registerTop(program);
  registerRm(program);
  registerGc(program);
  registerDoctor(program);
  registerMetrics(program);

  // Commander exits by itself on usage errors (code 1) and --help (0): take over so usage errors are 2.
  const override = (command: Command) => {
    command.exitOverride();
    for (const sub of command.commands) override(sub);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; everything else commander rejects (unknown option, missing argument, no
      // command at all) is a usage error. Commander has printed it on stderr; scripts get the JSON shape too.
      if (error.exitCode === 0) return ExitCode.OK;
      if (argv.includes('--json')) printJson(jsonError(new CliError(error.message.replace(/^error: /, ''), ExitCode.USAGE, 'USAGE')));
      return ExitCode.USAGE;
    }
    const json = argv.includes('--json');
    reportError(error, { json, color: !argv.includes('--no-color') });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ERROR;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
}

if (require.main === module) {
  // `shmring ls | head`: a reader that goes away is not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`shmring: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exitCode = ExitCode.ERROR;
    },
  );
}
