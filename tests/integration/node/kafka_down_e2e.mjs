// Sends a steady stream of track calls with the real, unmodified @segment/analytics-node while the
// test stops and restarts Kafka under the collector. The library retries 5xx answers with its own
// exponential backoff; this script only raises its retry budget (maxRetries, a documented setting)
// so that an outage of some seconds is outlasted. At the end it prints, as one JSON line, every call
// the library reported acknowledged and every one it gave up on:
//   {"acked":[{"userId":..,"messageId":..}],"failed":[{..,"error":..}]}
//
//   COLLECTOR_URL=http://127.0.0.1:8088 WRITE_KEY=wk_... RUN_ID=abc MESSAGES=60 INTERVAL_MS=200 USERS=6 \
//     node kafka_down_e2e.mjs
import { Analytics } from '@segment/analytics-node'

const host = process.env.COLLECTOR_URL
const writeKey = process.env.WRITE_KEY
const run = process.env.RUN_ID ?? 'local'
const messages = Number(process.env.MESSAGES ?? 60)
const intervalMs = Number(process.env.INTERVAL_MS ?? 200)
const users = Number(process.env.USERS ?? 6)
if (!host || !writeKey) {
  console.error('set COLLECTOR_URL and WRITE_KEY')
  process.exit(2)
}

const analytics = new Analytics({ writeKey, host, flushInterval: 100, maxEventsInBatch: 5, maxRetries: 30 })
const acked = []
const failed = []
const done = []
for (let i = 0; i < messages; i++) {
  const userId = `kd-${run}-${i % users}`
  const messageId = `kd-${run}-m${i}`
  done.push(
    new Promise((resolve) => {
      analytics.track({ userId, messageId, event: 'Heartbeat', properties: { seq: i } }, (err) => {
        if (err) failed.push({ userId, messageId, error: String(err?.reason ?? err?.message ?? err) })
        else acked.push({ userId, messageId })
        resolve()
      })
    })
  )
  await new Promise((r) => setTimeout(r, intervalMs))
}
await Promise.all(done)
await analytics.closeAndFlush({ timeout: 120_000 })
console.log(JSON.stringify({ acked, failed }))
