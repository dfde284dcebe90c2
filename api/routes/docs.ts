import Router from '@koa/router';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { notFound } from '../errors';
import { openApiDocument } from '../openapi';

// GET /openapi.json and a docs page that renders it: Swagger UI, served from its npm package
// (swagger-ui-dist, pinned) by this API, so the page needs no CDN. The page's start-up code is
// a file too: the Content-Security-Policy allows no inline script.
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const INIT_JS = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: './openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });
});
`;

// Relative URLs, so the page works behind any prefix or proxy.
const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Hermes API</title>
    <link rel="stylesheet" href="./docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="./docs/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./docs/swagger-ui-bundle.js"></script>
    <script src="./docs/init.js"></script>
  </body>
</html>
`;

// The package's files the page loads, and their types; nothing else in node_modules is reachable.
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

export function docsRouter(): Router {
  const r = new Router();
  const cache = new Map<string, Buffer>();

  r.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument();
  });

  r.get('/docs', (ctx) => {
    // The router also matches /docs/, where the page's relative URLs would miss: send it home.
    if (ctx.path.endsWith('/')) {
      ctx.status = 301;
      ctx.redirect(ctx.path.replace(/\/+$/, ''));
      return;
    }
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = PAGE;
  });

  r.get('/docs/:asset', async (ctx) => {
    const name = ctx.params.asset!;
    if (name === 'init.js') {
      ctx.type = 'text/javascript; charset=utf-8';
      ctx.body = INIT_JS;
      return;
    }
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) throw notFound('docs file');
    let file = cache.get(name);
    if (!file) cache.set(name, (file = await readFile(join(SWAGGER_UI_DIR, name))));
    ctx.type = type;
    // The package is pinned: a file changes only with a new deploy.
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file;
  });

  return r;
}
