// The deployment files: Kubernetes manifests validated against the Kubernetes OpenAPI schemas
// (kubernetes-models), checked field by field against what the CLI does, and the Dockerfile's
// promises. The image itself is built and run by scripts/container-smoke.sh (in .ci/run).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Secret } from 'kubernetes-models/v1/Secret';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULTS } from '../src/config/config.ts';
import { ExitCode } from '../src/errors.ts';

const read = (path: string) => readFileSync(fileURLToPath(new URL(`../${path}`, import.meta.url)), 'utf8');
// Parsed YAML, checked by the schema validator; the field checks only navigate it.
type Manifest = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const cronjob: Manifest = parse(read('deploy/kubernetes/cronjob.yaml'));
const sharded: Manifest = parse(read('deploy/kubernetes/cronjob-sharded.yaml'));
const deployment: Manifest = parse(read('deploy/kubernetes/deployment.yaml'));
const secret: Manifest = parse(read('deploy/kubernetes/secret.example.yaml'));
const pkg = JSON.parse(read('package.json')) as { version: string };

function container(podSpec: Manifest) {
  expect(podSpec.containers).toHaveLength(1);
  return podSpec.containers[0];
}

/** What both workloads share: non-root, read-only root filesystem with a writable /tmp, the URL from the Secret as a file. */
function expectHardenedPod(podSpec: Manifest) {
  const c = container(podSpec);
  expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
  expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  expect(c.resources.requests).toBeDefined();
  expect(c.resources.limits.memory).toBeDefined();
  const urlFile = c.env.find((e: Manifest) => e.name === 'DATABASE_URL_FILE').value as string;
  const mount = c.volumeMounts.find((m: Manifest) => urlFile.startsWith(`${m.mountPath}/`));
  expect(mount).toMatchObject({ readOnly: true });
  const volume = podSpec.volumes.find((v: Manifest) => v.name === mount.name);
  expect(volume.secret.secretName).toBe(secret.metadata.name);
  expect(Object.keys(secret.stringData)).toContain(urlFile.slice(mount.mountPath.length + 1));
  expect(c.env.map((e: Manifest) => e.name)).not.toContain('DATABASE_URL');
  expect(c.image).toBe(`package-scheduler:${pkg.version}`);
  // The root filesystem is read-only: a backlog's spool file needs a writable /tmp.
  const tmp = c.volumeMounts.find((m: Manifest) => m.mountPath === '/tmp');
  expect(tmp?.readOnly).not.toBe(true);
  expect(podSpec.volumes.find((v: Manifest) => v.name === tmp.name).emptyDir.sizeLimit).toMatch(/^\d+(Mi|Gi)$/);
}

describe('Kubernetes manifests', () => {
  it('validate against the Kubernetes schemas', () => {
    expect(() => new CronJob(cronjob).validate()).not.toThrow();
    expect(() => new CronJob(sharded).validate()).not.toThrow();
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    expect(() => new Secret(secret).validate()).not.toThrow();
  });

  it('the validator rejects a broken manifest (the check can fail)', () => {
    const broken = structuredClone(cronjob);
    broken.spec.jobTemplate.spec.podFailurePolicy.rules[0].action = 'Retry';
    expect(() => new CronJob(broken).validate()).toThrow(/action/);
  });

  it('CronJob: every minute, one at a time, a starting deadline, no blind retries, exit codes mapped', () => {
    expect(cronjob.spec).toMatchObject({ schedule: '* * * * *', concurrencyPolicy: 'Forbid' });
    expect(cronjob.spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(cronjob.spec.startingDeadlineSeconds).toBeLessThan(60);
    const job = cronjob.spec.jobTemplate.spec;
    expect(job.backoffLimit).toBe(0);
    expect(job.activeDeadlineSeconds * 1000).toBeGreaterThan(DEFAULTS.statementTimeoutMs + DEFAULTS.connectTimeoutMs);
    expect(job.activeDeadlineSeconds).toBeLessThan(60);
    expect(job.podFailurePolicy.rules).toEqual([
      { action: 'FailJob', onExitCodes: { containerName: 'package-scheduler', operator: 'In', values: [ExitCode.usage, ExitCode.software, ExitCode.config] } },
      { action: 'Ignore', onExitCodes: { containerName: 'package-scheduler', operator: 'In', values: [ExitCode.tempFail] } },
    ]);
    expect(job.template.spec.restartPolicy).toBe('Never');
    expect(container(job.template.spec).name).toBe('package-scheduler');
    expect(container(job.template.spec).args).toEqual(['run']);
    expect(cronjob.spec.successfulJobsHistoryLimit).toBeGreaterThan(0);
    expect(cronjob.spec.failedJobsHistoryLimit).toBeGreaterThan(0);
    expectHardenedPod(job.template.spec);
  });

  it('sharded CronJob: an Indexed Job with completions = parallelism = SCHEDULER_SHARD_COUNT, per-index failures, one at a time', () => {
    expect(sharded.spec).toMatchObject({ schedule: '* * * * *', concurrencyPolicy: 'Forbid' });
    const job = sharded.spec.jobTemplate.spec;
    expect(job.completionMode).toBe('Indexed');
    expect(job.completions).toBeGreaterThan(1);
    expect(job.parallelism).toBe(job.completions);
    expect(job.backoffLimitPerIndex).toBe(0);
    expect(job.backoffLimit).toBeUndefined();
    expect(job.activeDeadlineSeconds).toBeLessThan(60);
    const c = container(job.template.spec);
    expect(c.env.find((e: Manifest) => e.name === 'SCHEDULER_SHARD_COUNT').value).toBe(String(job.completions));
    expect(c.args.slice(0, 3)).toEqual(['run', '--table', 'tenant_*.special_packages']);
    expect(c.args).not.toContain('--shard'); // JOB_COMPLETION_INDEX picks the shard
    expect(job.podFailurePolicy.rules).toEqual([
      { action: 'FailIndex', onExitCodes: { containerName: 'package-scheduler', operator: 'In', values: [ExitCode.usage, ExitCode.software, ExitCode.config] } },
      { action: 'Ignore', onExitCodes: { containerName: 'package-scheduler', operator: 'In', values: [ExitCode.tempFail] } },
    ]);
    expect(job.template.spec.restartPolicy).toBe('Never');
    expectHardenedPod(job.template.spec);
  });

  it('the validator rejects a broken sharded manifest (the check can fail)', () => {
    const broken = structuredClone(sharded);
    broken.spec.jobTemplate.spec.completionMode = 'Sharded';
    expect(() => new CronJob(broken).validate()).toThrow(/completionMode/);
  });

  it('Deployment: --watch (issue 22), a liveness probe on status --max-age, a grace period longer than a tick', () => {
    const pod = deployment.spec.template.spec;
    const c = container(pod);
    expect(c.args).toEqual(['run', '--watch']);
    expect(c.livenessProbe.exec.command.slice(0, 5)).toEqual(['node', '/app/bin/package-scheduler.js', 'status', '--max-age', '180']);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(DEFAULTS.statementTimeoutMs);
    expectHardenedPod(pod);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('builds on an official slim Node LTS image by default, multi-stage, runs as node with the CLI as PID 1', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(3);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/package-scheduler\.js"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["run"\]$/m);
    expect(dockerfile).not.toMatch(/^HEALTHCHECK/m);
  });

  it('labels the image with package.json\'s version', () => {
    expect(dockerfile).toMatch(new RegExp(`^ARG VERSION=${pkg.version.replace(/\./g, '\\.')}$`, 'm'));
    for (const label of ['version', 'source', 'description']) expect(dockerfile).toContain(`org.opencontainers.image.${label}=`);
  });

  it('.dockerignore lets in only what the build copies', () => {
    const ignore = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    for (const path of copied) expect([`!${path}`, `!${path}/`].some((entry) => ignore.includes(entry))).toBe(true);
  });
});
