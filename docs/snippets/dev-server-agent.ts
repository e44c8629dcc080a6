import { startDevServer } from 'consul-hotreload/devserver';

// A fake clock drives TTL expiry, probe intervals, the reaper and the no-leader window from a test.
let nowMs = 0;
const timers = new Set<{ at: number; run: () => void }>();
const clock = {
  now: () => nowMs,
  setTimeout: (run: () => void, ms: number) => {
    const timer = { at: nowMs + ms, run };
    timers.add(timer);
    return timer;
  },
  clearTimeout: (timer: unknown) => {
    timers.delete(timer as { at: number; run: () => void });
  },
};
const advance = (ms: number) => {
  nowMs += ms;
  for (const timer of [...timers].sort((a, b) => a.at - b.at)) {
    if (timer.at > nowMs) continue;
    timers.delete(timer);
    timer.run();
  }
};

const server = await startDevServer({ port: 0, clock, now: clock.now });
server.agent.registerService({ Name: 'web', Port: 8080, Check: { TTL: '10s' } });
console.log(server.agent.checkStatus('service:web')); // 'critical' until the first pass
server.agent.onCheckChange((event) => console.log(event.checkId, event.previous, '→', event.status));
await fetch(`${server.address}/v1/agent/check/pass/service:web`, { method: 'PUT' }); // passing
advance(10_000); // no update within the TTL: critical, Output 'TTL expired'

server.agent.restart(); // forget every service, check and session, like a -dev agent restart
server.agent.noLeaderFor(5_000); // writes and non-stale reads answer 500 No cluster leader for 5 s
console.log(server.stats().blockingHeldByKind); // { kv, session, catalog, health, agent }

await server.close();
