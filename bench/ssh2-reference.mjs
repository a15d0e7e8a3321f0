#!/usr/bin/env node
// The raw-ssh2 reference the fan-out is measured against: the least a Node program must do to
// run the same commands on many hosts — connect to every host at once (TCP_NODELAY on), then
// run the commands on each host one after another, one exec channel per command, and print
// how many exited 0. Plain JavaScript, so it pays no TypeScript start-up.
//   node bench/ssh2-reference.mjs hosts.json
// hosts.json: { "key": "<private key path>", "hosts": [{ "address", "port", "user" }], "commands": ["..."] }
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import ssh2 from 'ssh2';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const key = readFileSync(spec.key);

function exec(client, command) {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let code = null;
      ch.on('exit', (c) => {
        code = c;
      });
      ch.on('close', () => resolve(code));
      ch.resume();
      ch.stderr.resume();
    });
  });
}

async function host(h) {
  const sock = await new Promise((resolve, reject) => {
    const s = connect(h.port, h.address, () => resolve(s));
    s.once('error', reject);
  });
  sock.setNoDelay(true);
  const client = new ssh2.Client();
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
    client.connect({ sock, username: h.user, privateKey: key, hostVerifier: () => true });
  });
  let ok = 0;
  for (const c of spec.commands) if ((await exec(client, c)) === 0) ok++;
  client.end();
  return ok;
}

const results = await Promise.all(spec.hosts.map(host));
console.log(JSON.stringify({ hosts: results.length, ok: results.reduce((a, b) => a + b, 0) }));
