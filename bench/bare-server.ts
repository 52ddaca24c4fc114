import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { SERVED_BY_HEADER, ZONE_HEADER } from '../lib/names.ts';

/**
 * The floor for the cached-read comparison: node:http answering every request with
 * the very bytes a db-node cached read answers (body from BARE_BODY_FILE), no
 * framework, no auth, no store. Run as its own process, as db-node is, so that it
 * never shares an event loop with the load generator.
 */
const file = process.env.BARE_BODY_FILE;
if (!file) throw new Error('BARE_BODY_FILE is required (the JSON body to answer with)');
const body = readFileSync(file);
const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
const headers = {
  'content-type': 'application/json; charset=utf-8',
  'content-length': String(body.length),
  // db-node says who served every response; same bytes on the wire here.
  [SERVED_BY_HEADER]: process.env.POD_NAME ?? 'bare-local',
  [ZONE_HEADER]: process.env.ZONE ?? 'zone-a',
};

const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, host, () => {
  const address = server.address();
  process.stdout.write(`bare-server listening on ${typeof address === 'object' && address ? address.port : port}\n`);
});
const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
