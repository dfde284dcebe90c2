// The API process: `npm run api`.
import { once } from 'node:events';
import { loadConfig } from '../lib/config';
import { createApp } from './app';
import { createApiDeps } from './bootstrap';
import { attachRealtime } from './realtime';

const config = loadConfig();
const deps = await createApiDeps(config);
const server = createApp(deps).listen(config.API_PORT, config.API_HOST);
await once(server, 'listening');
const realtime = await attachRealtime(server, deps);
deps.log.info({ url: `http://${config.API_HOST}:${config.API_PORT}/api/v1`, socketio: '/socket.io' }, 'api listening');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    deps.log.info({ signal }, 'api stopping');
    // Closing Socket.IO closes the HTTP server too.
    void realtime.close().then(() => deps.close()).then(() => process.exit(0));
    // Keep-alive clients may hold the server open; do not wait for them forever.
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
