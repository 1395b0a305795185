// Drives tessera collector with the real, unmodified @segment/analytics-node, as a shop's backend
// would: identify, track, page, group, alias, then a large batch flushed at once. Exits non-zero if
// the library reports any error (it retries 429/5xx itself, so an error here is a final failure).
//
//   COLLECTOR_URL=http://127.0.0.1:8088 WRITE_KEY=wk_... RUN_ID=abc node segment_node_e2e.mjs
// RUN_ID makes the ids unique per run; BULK_EVENTS sets the size of the large flush (default 2000).
import { Analytics } from '@segment/analytics-node'

const host = process.env.COLLECTOR_URL
const writeKey = process.env.WRITE_KEY
const run = process.env.RUN_ID ?? 'local'
const bulk = Number(process.env.BULK_EVENTS ?? 2000)
if (!host || !writeKey) {
  console.error('set COLLECTOR_URL and WRITE_KEY')
  process.exit(2)
}

const errors = []
const analytics = new Analytics({ writeKey, host, flushInterval: 200, maxEventsInBatch: 15 })
analytics.on('error', (err) => errors.push(err))

const user = `node-u-${run}`
const anon = `node-a-${run}`
analytics.identify({ userId: user, anonymousId: anon, traits: { email: ` Node.${run}@Example.com `, name: 'สมชาย' } })
analytics.track({ userId: user, event: 'Order Completed', properties: { order_id: `o-${run}`, revenue: 201.0, currency: 'THB' } })
analytics.page({ anonymousId: anon, name: 'Home', properties: { url: 'https://shop.example/' } })
analytics.group({ userId: user, groupId: `g-${run}`, traits: { name: 'Baan Kafe' } })
analytics.alias({ userId: user, previousId: `node-prev-${run}` })
await analytics.flush()

// The large flush: one library instance with big batches (it keeps each under 480 KB itself).
const big = new Analytics({ writeKey, host, flushInterval: 60_000, maxEventsInBatch: 1000 })
big.on('error', (err) => errors.push(err))
for (let i = 0; i < bulk; i++) {
  big.track({ userId: `node-bulk-${run}`, event: 'Product Viewed', properties: { sku: `SKU-${i}`, price: 45.5 } })
}
await big.closeAndFlush({ timeout: 60_000 })
await analytics.closeAndFlush({ timeout: 60_000 })

if (errors.length > 0) {
  for (const e of errors) console.error('analytics-node error:', e?.reason ?? e?.message ?? e)
  process.exit(1)
}
console.log(`sent: identify, track, page, group, alias and ${bulk} bulk tracks for run ${run}`)
