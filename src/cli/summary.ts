// What the user reads after a successful run: the stack at a glance and what to do next.
import { relative } from 'node:path';
import type { StackModel } from '../stack/model.js';
import type { FilePlan } from '../render/plan.js';
import { runScript, style, type PackageManager } from './ui.js';

const mib = (value: number) => (value >= 1024 ? `${(value / 1024).toFixed(1)} GiB` : `${value} MiB`);

export function stackTable(m: StackModel): string[] {
  const rows = m.services.list.map((s) => [
    s.name,
    s.port === undefined ? '-' : String(s.port),
    s.replicas > 1 ? `${s.replicas} × ${mib(s.memoryMiB)}` : mib(s.memoryMiB),
    s.description,
  ]);
  const header = ['service', 'port', 'memory', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd();
  return [
    style.dim(line(header)),
    ...rows.map(line),
    style.dim(`  memory limits: ${mib(m.memory.allocatedMiB)} of ${mib(m.memory.vpsMiB)} RAM (85 % budget ${mib(m.memory.budgetMiB)})`),
  ];
}

export function successText(m: StackModel, plan: FilePlan, target: string, cwd: string, pm: PackageManager): string {
  const rel = relative(cwd, target);
  const where = rel === '' ? '.' : rel.startsWith('..') ? target : rel;
  const lines = [
    '',
    `${style.green('✔')} ${style.bold(m.project.name)}: ${m.answers.template} stack for ${m.domain.apex}, ${plan.files.length} files in ${where}`,
    '',
    ...stackTable(m),
    '',
    style.bold('Next steps:'),
  ];
  if (where !== '.') lines.push(`  cd ${where.includes(' ') ? JSON.stringify(where) : where}`);
  lines.push(
    '  git init && git add -A && git commit -m "Initial stack from create-vps-stack"',
    `  ${runScript(pm, 'dev')}        ${style.dim('# the whole stack locally, with docker compose')}`,
    `  ${style.dim('First deploy to a VPS: docs/RUNBOOK.md')}`,
    '',
  );
  return lines.join('\n');
}
