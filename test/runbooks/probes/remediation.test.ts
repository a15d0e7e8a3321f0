/**
 * The probes behind remedies — they change a host, so the engine runs them
 * only once approved: `restart` asks the service's own manager (systemd,
 * pm2 with --update-env, docker) and refuses a plain process; `nginx-reload`
 * reloads only after `nginx -t` accepted the config. Against stub commands,
 * so each test sees exactly which commands ran, in order. (The real pm2 and
 * the real nginx are in test/runbooks/remediation.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { facts, runProbe, type StubAnswer } from './harness.ts';

const ok = (args: string, stdout = ''): StubAnswer => ({ args, stdout });

describe('restart probe', () => {
  it('systemd: systemctl restart of the configured unit, then its state', async () => {
    const r = await runProbe('restart', {
      args: ['systemd', 'shop-api.service'],
      stubs: { systemctl: [ok('restart shop-api.service'), ok('is-active shop-api.service', 'active\n')] },
    });
    expect(r.code).toBe(0);
    expect(facts(r.stdout).get('run')).toBe('systemctl restart shop-api.service');
    expect(facts(r.stdout).get('state')).toBe('active');
    expect(r.calls).toEqual(['systemctl restart shop-api.service', 'systemctl is-active shop-api.service']);
  });

  it("systemd: a restart systemd refuses ends with systemctl's status and words, and nothing more runs", async () => {
    const r = await runProbe('restart', {
      args: ['systemd', 'shop-api.service'],
      stubs: { systemctl: [{ args: 'restart shop-api.service', stderr: 'Job for shop-api.service failed because the control process exited with error code.\n', exit: 1 }] },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Job for shop-api.service failed');
    expect(r.calls).toEqual(['systemctl restart shop-api.service']);
  });

  it('pm2: pm2 restart NAME --update-env (so a changed environment is taken), its exit status kept', async () => {
    const good = await runProbe('restart', { args: ['pm2', 'restaurant-backend'], stubs: { pm2: [ok('restart restaurant-backend --update-env', '[PM2] [restaurant-backend](0) ✓\n')] } });
    expect(good.code).toBe(0);
    expect(facts(good.stdout).get('run')).toBe('pm2 restart restaurant-backend --update-env');
    expect(good.calls).toEqual(['pm2 restart restaurant-backend --update-env']);
    const unknown = await runProbe('restart', {
      args: ['pm2', 'nope'],
      stubs: { pm2: [{ args: 'restart nope --update-env', stderr: '[PM2][ERROR] Process or Namespace nope not found\n', exit: 1 }] },
    });
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('Process or Namespace nope not found');
  });

  it('docker: docker restart of the container', async () => {
    const r = await runProbe('restart', { args: ['docker', 'shop'], stubs: { docker: [ok('restart shop', 'shop\n')] } });
    expect(r.code).toBe(0);
    expect(r.calls).toEqual(['docker restart shop']);
  });

  it('a plain process has no manager to ask: exit 2, nothing run', async () => {
    const r = await runProbe('restart', { args: ['process', 'uvicorn api_server:app'], stubs: { systemctl: [], pm2: [], docker: [] } });
    expect(r.code).toBe(2);
    expect(facts(r.stdout).get('note')).toBe('cannot restart a process service: no manager to ask (systemd, pm2 or docker)');
    expect(r.calls).toEqual([]);
  });
});

describe('nginx-reload probe', () => {
  it('nginx -t accepts the config: then nginx -s reload with the same config', async () => {
    const r = await runProbe('nginx-reload', {
      args: ['/etc/nginx/nginx.conf'],
      stubs: {
        nginx: [
          { args: '-t -c /etc/nginx/nginx.conf', stderr: 'nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n' },
          ok('-s reload -c /etc/nginx/nginx.conf'),
        ],
      },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('test is successful');
    expect(facts(r.stdout).get('run')).toBe('nginx -s reload -c /etc/nginx/nginx.conf');
    expect(r.calls).toEqual(['nginx -t -c /etc/nginx/nginx.conf', 'nginx -s reload -c /etc/nginx/nginx.conf']);
  });

  it('nginx -t refuses the config: nothing is reloaded, exit 1 with nginx’s own error', async () => {
    const r = await runProbe('nginx-reload', {
      args: ['/etc/nginx/nginx.conf'],
      stubs: { nginx: [{ args: '-t -c /etc/nginx/nginx.conf', stderr: 'nginx: [emerg] unexpected "}" in /etc/nginx/sites-enabled/shop:12\nnginx: configuration file /etc/nginx/nginx.conf test failed\n', exit: 1 }] },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('[emerg] unexpected "}"');
    expect(facts(r.stdout).get('note')).toMatch(/^nginx -t refused the config: not reloading/);
    expect(r.calls).toEqual(['nginx -t -c /etc/nginx/nginx.conf']);
  });

  it('no nginx on the host: exit 127, nothing run', async () => {
    const r = await runProbe('nginx-reload', { args: ['/etc/nginx/nginx.conf'] });
    expect(r.code).toBe(127);
    expect(r.stdout).toContain('nginx is not installed on this host');
  });
});
