// `icpk`: the command line client (see cli.ts for the commands).
//
//   node --import tsx replica/src/cli/main.ts <command> [options]     (or bin/icpk)

import { runCli } from './cli.js';

const stopSignal = new Promise<string>((resolve) => {
  process.once('SIGINT', () => resolve('SIGINT'));
  process.once('SIGTERM', () => resolve('SIGTERM'));
});
process.exitCode = await runCli(process.argv.slice(2), { stopSignal });
// The agent may keep sockets alive; the command is done.
process.exit();
