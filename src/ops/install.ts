// `observ install APP [--dry-run]`: the spec's Phase 3 deployment hook. Sets obs-agent@APP up under
// systemd in one idempotent command:
//
//   check the config (as the agent would) → install the unit template (+ a drop-in only where this
//   machine differs from the template: obs-agent elsewhere than /usr/local/bin, a missing group)
//   → create the state directory → daemon-reload / enable / (re)start, when systemd runs here;
//   otherwise print the commands.
//
// planInstall() decides and touches nothing; executeInstall() does (or, with dryRun, prints).

import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ObservError } from '../errors.js';
import { defaultConfigPath, DEFAULTS, loadAgentConfig, type AgentConfig } from '../supervisor/config.js';
import { readGroups, SERVICE_GROUPS } from './access.js';

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const UNIT_TEMPLATE = join(PACKAGE_ROOT, 'ops', 'obs-agent@.service');
export const UNIT_NAME = 'obs-agent@.service';
export const DROP_IN_NAME = '10-observ-install.conf';
const DEFAULT_UNIT_DIR = '/etc/systemd/system';

export interface InstallOptions {
  app: string;
  configFile?: string;
  /** Install into another root (an image being built); default '/'. */
  root?: string;
  /** Where unit files go; default ROOT/etc/systemd/system (env OBSERV_SYSTEMD_UNIT_DIR). */
  unitDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Whether systemd manages this machine (default: /run/systemd/system exists). */
  systemdRunning?: boolean;
  /** systemctl for offline enabling into another root; null when absent. Default: found on PATH. */
  systemctl?: string | null;
}

export type InstallStep =
  | { kind: 'write'; path: string; content: string; mode: number; why: string }
  | { kind: 'keep'; path: string; what: string }
  | { kind: 'remove'; path: string; why: string }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'run'; argv: string[] }
  | { kind: 'manual'; argv: string[] }
  | { kind: 'note'; text: string };

export interface InstallPlan {
  config: AgentConfig;
  steps: InstallStep[];
}

function which(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      const st = lstatSync(p);
      if (st.isFile() || st.isSymbolicLink()) return p;
    } catch { /* not here */ }
  }
  return null;
}

function readIfExists(path: string): string | null {
  try { return readFileSync(path, 'utf8'); } catch { return null; }
}

/** Paths the unit's ProtectHome=yes hides: a binary there cannot be started. */
function underHome(path: string): boolean {
  return /^\/(home|root|run\/user)(\/|$)/.test(path);
}

export function planInstall(options: InstallOptions): InstallPlan {
  const env = options.env ?? process.env;
  const root = resolve(options.root ?? '/');
  const inRoot = (p: string) => join(root, p);
  const customUnitDir = options.unitDir ?? env.OBSERV_SYSTEMD_UNIT_DIR;
  const unitDir = customUnitDir ? resolve(customUnitDir) : inRoot(DEFAULT_UNIT_DIR);
  const steps: InstallStep[] = [];

  // 1. The config, exactly as the agent will load it (throws ConfigError with file:line field).
  const config = loadAgentConfig({
    app: options.app,
    configFile: options.configFile ?? inRoot(defaultConfigPath(options.app, env)),
    env,
    warn: (m) => steps.push({ kind: 'note', text: `warning: ${m}` }),
  });
  if (!config.enabled) {
    steps.push({ kind: 'note', text: `monitoring is disabled for ${options.app} (monitoring.enabled is not true in ${config.configFile}): nothing to install` });
    return { config, steps };
  }

  // 2. The unit template, byte for byte as shipped.
  const template = readFileSync(UNIT_TEMPLATE, 'utf8');
  const unitPath = join(unitDir, UNIT_NAME);
  const current = readIfExists(unitPath);
  if (current === template) steps.push({ kind: 'keep', path: unitPath, what: 'unit template' });
  else steps.push({ kind: 'write', path: unitPath, content: template, mode: 0o644, why: current === null ? 'unit template' : 'unit template (updated)' });

  // 3. A drop-in for what differs on this machine, removed again when nothing does.
  const overrides: string[] = [];
  const execStart = /^ExecStart=(\S+)(.*)$/m.exec(template)!;
  const templateBinary = execStart[1]!;
  if (!existsSync(inRoot(templateBinary))) {
    if (root === '/') {
      const found = which('obs-agent', env);
      const command = found ? found : `${process.execPath} ${join(PACKAGE_ROOT, 'bin', 'obs-agent.cjs')}`;
      overrides.push(`# obs-agent is not at ${templateBinary} on this machine.`, 'ExecStart=', `ExecStart=${command}${execStart[2]}`);
      if (underHome(command)) {
        steps.push({ kind: 'note', text: `warning: ${command} is under a home directory, which the unit hides (ProtectHome=yes): install the package globally (sudo npm install -g ./observ-fleet-<version>.tgz, see the README) so obs-agent lands in ${templateBinary}` });
      }
    } else {
      steps.push({ kind: 'note', text: `warning: ${inRoot(templateBinary)} does not exist: install the package in that root (npm install -g --prefix ROOT/usr/local ./observ-fleet-<version>.tgz) before it boots` });
    }
  }
  const groups = readGroups(inRoot('/etc/group'));
  const present = SERVICE_GROUPS.filter((g) => groups.has(g));
  if (present.length !== SERVICE_GROUPS.length) {
    const missing = SERVICE_GROUPS.filter((g) => !groups.has(g));
    // A missing group would stop the unit from starting at all (status 216/GROUP).
    overrides.push(`# group${missing.length > 1 ? 's' : ''} ${missing.join(', ')} do${missing.length > 1 ? '' : 'es'} not exist on this machine.`, 'SupplementaryGroups=');
    if (present.length) overrides.push(`SupplementaryGroups=${present.join(' ')}`);
  }
  const dropInPath = join(unitDir, `${UNIT_NAME}.d`, DROP_IN_NAME);
  const dropInNow = readIfExists(dropInPath);
  if (overrides.length) {
    const dropIn = `# Written by \`observ install\`: where this machine differs from ${UNIT_NAME}.\n[Service]\n${overrides.join('\n')}\n`;
    if (dropInNow === dropIn) steps.push({ kind: 'keep', path: dropInPath, what: 'drop-in' });
    else steps.push({ kind: 'write', path: dropInPath, content: dropIn, mode: 0o644, why: 'drop-in for this machine' });
  } else if (dropInNow !== null) {
    steps.push({ kind: 'remove', path: dropInPath, why: 'this machine now matches the template' });
  }

  // 4. The state directory (the spool). systemd would create it too (StateDirectory=); creating it
  // now lets `observ doctor` check it before the first start. With DynamicUser=yes systemd moves it
  // under /var/lib/private on first start and leaves a symlink here.
  const stateDir = inRoot(join(DEFAULTS.stateRoot, options.app));
  if (existsSync(stateDir)) steps.push({ kind: 'keep', path: stateDir, what: 'state directory' });
  else steps.push({ kind: 'mkdir', path: stateDir, mode: 0o700 });

  // 5. systemd.
  const instance = `obs-agent@${options.app}.service`;
  const changed = steps.some((s) => (s.kind === 'write' || s.kind === 'remove') && s.path.startsWith(unitDir));
  const systemdRunning = options.systemdRunning ?? existsSync('/run/systemd/system');
  if (root === '/' && !customUnitDir && systemdRunning) {
    if (changed) steps.push({ kind: 'run', argv: ['systemctl', 'daemon-reload'] });
    steps.push({ kind: 'run', argv: ['systemctl', 'enable', instance] });
    steps.push({ kind: 'run', argv: ['systemctl', changed ? 'restart' : 'start', instance] });
  } else if (root !== '/' && !customUnitDir) {
    const systemctl = options.systemctl === undefined ? which('systemctl', env) : options.systemctl;
    const argv = [systemctl ?? 'systemctl', `--root=${root}`, 'enable', instance];
    steps.push(systemctl ? { kind: 'run', argv } : { kind: 'manual', argv });
    steps.push({ kind: 'note', text: `${instance} starts when that system boots` });
  } else {
    steps.push({ kind: 'note', text: customUnitDir
      ? `the unit went to ${unitDir}, not a systemd directory: copy it into place, then run:`
      : 'systemd is not running here (no /run/systemd/system); on the target machine, run:' });
    steps.push({ kind: 'manual', argv: ['systemctl', 'daemon-reload'] });
    steps.push({ kind: 'manual', argv: ['systemctl', 'enable', '--now', instance] });
  }
  return { config, steps };
}

export function describeStep(step: InstallStep, dryRun: boolean): string {
  switch (step.kind) {
    case 'write': return `${dryRun ? 'would write' : 'wrote'} ${step.path} (${step.why}, mode ${step.mode.toString(8)})`;
    case 'keep': return `${step.path} is up to date (${step.what})`;
    case 'remove': return `${dryRun ? 'would remove' : 'removed'} ${step.path} (${step.why})`;
    case 'mkdir': return `${dryRun ? 'would create' : 'created'} ${step.path} (mode ${step.mode.toString(8)})`;
    case 'run': return `${dryRun ? 'would run' : 'ran'}: ${step.argv.join(' ')}`;
    case 'manual': return `  sudo ${step.argv.join(' ')}`;
    case 'note': return step.text;
    default: {
      const never: never = step;
      return String(never);
    }
  }
}

/** Carries the plan out (or only prints it, with dryRun). Stops at the first failing command. */
export function executeInstall(steps: InstallStep[], options: { dryRun: boolean; print: (line: string) => void }): void {
  for (const step of steps) {
    if (!options.dryRun) {
      try {
        applyStep(step);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
          throw new ObservError('OBS_ERR_USAGE', `${(err as Error).message}: run as root (sudo observ install …), or --dry-run to see the plan`, { cause: err });
        }
        throw err;
      }
    }
    options.print(describeStep(step, options.dryRun));
  }
}

function applyStep(step: InstallStep): void {
  switch (step.kind) {
    case 'write':
      mkdirSync(join(step.path, '..'), { recursive: true, mode: 0o755 });
      writeFileSync(step.path, step.content, { mode: step.mode });
      chmodSync(step.path, step.mode);
      return;
    case 'remove':
      rmSync(step.path, { force: true });
      return;
    case 'mkdir':
      mkdirSync(join(step.path, '..'), { recursive: true, mode: 0o755 });
      mkdirSync(step.path, { mode: step.mode });
      chmodSync(step.path, step.mode);
      return;
    case 'run': {
      const r = spawnSync(step.argv[0]!, step.argv.slice(1), { encoding: 'utf8' });
      if (r.status !== 0) {
        throw new ObservError('OBS_ERR_USAGE', `${step.argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim()}`);
      }
      return;
    }
    case 'keep': case 'manual': case 'note':
      return;
  }
}

const USAGE = 'usage: observ install APP [--dry-run] [--config FILE] [--root DIR] [--unit-dir DIR]';

export async function installCommand(args: string[]): Promise<void> {
  let parsed: { values: { 'dry-run'?: boolean; config?: string; root?: string; 'unit-dir'?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: {
      'dry-run': { type: 'boolean' }, config: { type: 'string' }, root: { type: 'string' }, 'unit-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    } });
  } catch (err) {
    throw new ObservError('OBS_ERR_USAGE', `${(err as Error).message}\n${USAGE}`);
  }
  if (parsed.values.help) { process.stdout.write(USAGE + '\n'); return; }
  const app = parsed.positionals[0];
  if (!app || parsed.positionals.length > 1) throw new ObservError('OBS_ERR_USAGE', USAGE);
  const dryRun = parsed.values['dry-run'] === true;
  const plan = planInstall({ app, configFile: parsed.values.config, root: parsed.values.root, unitDir: parsed.values['unit-dir'] });
  const print = (line: string) => process.stdout.write(line + '\n');
  if (plan.config.enabled) {
    print(`config ${plan.config.configFile} is valid (${plan.config.healthChecks.length} health check(s), ${plan.config.logFiles.length} log file(s))`);
  }
  executeInstall(plan.steps, { dryRun, print });
  if (plan.config.enabled) print(dryRun ? '\ndry run: nothing was changed.' : `\nnext: observ doctor ${app}`);
}
