// Drives tessera collector from a real browser: the unmodified @segment/analytics-next, bundled
// from its npm package with esbuild and served from localhost (no CDN: the network is closed), on a
// test page in Debian's headless Chromium (playwright-core, executablePath /usr/bin/chromium). The
// page is on another origin than the collector, so the browser sends CORS preflights, as on a shop.
// The page identifies, then calls page() and track(); the script waits until the browser saw the
// collector answer every call, and prints one JSON line:
//   {"userId":..,"anonymousId":..,"answers":[{"path":"/v1/i","status":200},..]}
//
//   COLLECTOR_URL=http://127.0.0.1:8088 WRITE_KEY=wk_... RUN_ID=abc node analytics_next_e2e.mjs
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'
import { chromium } from 'playwright-core'

const collectorUrl = process.env.COLLECTOR_URL
const writeKey = process.env.WRITE_KEY
const run = process.env.RUN_ID ?? 'local'
if (!collectorUrl || !writeKey) {
  console.error('set COLLECTOR_URL and WRITE_KEY')
  process.exit(2)
}
const apiHost = `${new URL(collectorUrl).host}/v1`

// The library as a page would load it, in one file (dynamic imports inlined).
const bundle = await esbuild.build({
  stdin: {
    contents: "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;",
    resolveDir: fileURLToPath(new URL('.', import.meta.url)),
  },
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  define: { 'process.env.NODE_ENV': '"production"' },
  write: false,
  logLevel: 'error',
})

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>Baan Kafe - test page</title>
<script src="/analytics.js"></script></head>
<body><h1>Baan Kafe</h1>
<script>
  // Settings inline instead of from Segment's CDN (docs/collector.md, "Pointing an SDK at it").
  window.done = (async () => {
    const [analytics] = await AnalyticsBrowser.load({
      writeKey: ${JSON.stringify(writeKey)},
      cdnSettings: { integrations: { 'Segment.io': { apiKey: ${JSON.stringify(writeKey)},
                                                     apiHost: ${JSON.stringify(apiHost)}, protocol: 'http' } },
                     // The library's own telemetry would go to api.segment.io: off.
                     metrics: { sampleRate: 0 } },
    })
    await analytics.identify(${JSON.stringify(`next-u-${run}`)}, { email: ${JSON.stringify(` Next.${run}@Example.com `)} })
    await analytics.page('Home', { path: '/' })
    await analytics.track('Product Viewed', { sku: 'SKU-1', price: 45.5 })
    return { userId: analytics.user().id(), anonymousId: analytics.user().anonymousId() }
  })()
</script></body></html>`

const server = createServer((req, res) => {
  if (req.url === '/analytics.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' })
    res.end(bundle.outputFiles[0].contents)
  } else if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
    res.end(page)
  } else if (req.url === '/favicon.ico') {
    res.writeHead(204)
    res.end()
  } else {
    res.writeHead(404)
    res.end()
  }
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const pageUrl = `http://127.0.0.1:${server.address().port}/`

const profileDir = mkdtempSync(join(tmpdir(), 'tessera-chromium-'))
let exitCode = 0
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
try {
  const tab = context.pages()[0] ?? (await context.newPage())
  const answers = []
  const browserErrors = []
  tab.on('response', async (response) => {
    const url = new URL(response.url())
    if (url.host === new URL(collectorUrl).host) {
      // A cross-origin POST with an Authorization header is only sent after a successful preflight.
      const sent = await response.request().allHeaders()
      answers.push({ path: url.pathname, method: response.request().method(), status: response.status(),
                     authorization: 'authorization' in sent,
                     crossOrigin: sent.origin !== undefined && sent.origin !== new URL(collectorUrl).origin })
    }
  })
  // Anything but localhost would be a call home (Segment's CDN, its metrics): none is allowed.
  const foreign = []
  context.on('request', (request) => {
    const url = new URL(request.url())
    if (url.hostname !== '127.0.0.1' && url.protocol.startsWith('http')) foreign.push(request.url())
  })
  tab.on('pageerror', (err) => browserErrors.push(String(err)))
  tab.on('console', (msg) => { if (msg.type() === 'error') browserErrors.push(msg.text()) })
  await tab.goto(pageUrl)
  const ids = await tab.evaluate(() => window.done)
  // identify, page and track each answered (the library does not wait for the answer to resolve).
  const posted = (path) => answers.some((a) => a.method === 'POST' && a.path === path && a.status === 200)
  const deadline = Date.now() + 30_000
  while (!['/v1/i', '/v1/p', '/v1/t'].every(posted) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
  }
  if (!['/v1/i', '/v1/p', '/v1/t'].every(posted)) exitCode = 1
  if (foreign.length > 0) {
    console.error('requests to other hosts:', foreign.join(' '))
    exitCode = 1
  }
  if (browserErrors.length > 0) console.error('browser errors:', browserErrors.join('\n'))
  console.log(JSON.stringify({ ...ids, answers }))
} finally {
  await context.close()
  server.close()
  rmSync(profileDir, { recursive: true, force: true })
}
process.exit(exitCode)
