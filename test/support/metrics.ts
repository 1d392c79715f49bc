// A strict reader of the Prometheus text format, for assertions: every sample must follow a
// HELP and a TYPE line of its own metric; anything else is an error, so a half-written file
// can never parse.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  if (!text.endsWith('\n')) throw new Error('metrics file does not end with a newline');
  const samples: Sample[] = [];
  const described = new Map<string, Set<string>>();
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) (\w+) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE' && meta[3] !== 'gauge') throw new Error(`not a gauge: ${line}`);
      described.set(meta[2]!, (described.get(meta[2]!) ?? new Set()).add(meta[1]!));
      continue;
    }
    const sample = /^(\w+)\{((?:\w+="(?:[^"\\]|\\.)*",?)*)\} (-?[0-9.e+]+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, value] = sample;
    if (described.get(name!)?.size !== 2) throw new Error(`${name} has no HELP and TYPE before its samples`);
    const labels: Record<string, string> = {};
    for (const m of labelText!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: name!, labels, value: Number(value) });
  }
  return samples;
}

/** The one value of `name` with these labels (besides table); throws when absent or repeated. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}
