// Drives tessera collector with the real, unmodified @rudderstack/rudder-sdk-node: identify, track,
// page, group, alias, then a large batch. It gzips its bodies and authenticates with HTTP Basic.
// Exits non-zero on any error the library reports.
//
//   COLLECTOR_URL=http://127.0.0.1:8088 WRITE_KEY=wk_... RUN_ID=abc node rudder_node_e2e.mjs
import Analytics from '@rudderstack/rudder-sdk-node'

const host = process.env.COLLECTOR_URL
const writeKey = process.env.WRITE_KEY
const run = process.env.RUN_ID ?? 'local'
const bulk = Number(process.env.BULK_EVENTS ?? 2000)
if (!host || !writeKey) {
  console.error('set COLLECTOR_URL and WRITE_KEY')
  process.exit(2)
}

const errors = []
const client = new Analytics(writeKey, {
  dataPlaneUrl: host,
  flushAt: 500,
  flushInterval: 60_000,
  logLevel: 'error',
  errorHandler: (err) => errors.push(err),
})
const flushed = () => new Promise((resolve) => client.flush((err) => { if (err) errors.push(err); resolve() }))

const user = `rudder-u-${run}`
const anon = `rudder-a-${run}`
client.identify({ userId: user, anonymousId: anon, traits: { email: ` Rudder.${run}@Example.com `, phone: '081-234-5678' } })
client.track({ userId: user, event: 'Order Completed', properties: { order_id: `o-${run}`, revenue: 99.5, currency: 'THB' } })
client.page({ anonymousId: anon, name: 'Home', properties: { url: 'https://shop.example/' } })
client.group({ userId: user, groupId: `g-${run}`, traits: { name: 'Baan Kafe' } })
client.alias({ userId: user, previousId: `rudder-prev-${run}` })
await flushed()
for (let i = 0; i < bulk; i++) {
  client.track({ userId: `rudder-bulk-${run}`, event: 'Product Viewed', properties: { sku: `SKU-${i}`, price: 45.5 } })
}
while (client.queue.length > 0) await flushed()  // flushAt messages per request (the library keeps each under 500 KB)
await flushed()

if (errors.length > 0) {
  for (const e of errors) console.error('rudder-sdk-node error:', e?.response?.status ?? '', e?.response?.data ?? e?.message ?? e)
  process.exit(1)
}
console.log(`sent: identify, track, page, group, alias and ${bulk} bulk tracks for run ${run}`)
