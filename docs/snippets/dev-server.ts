import { startDevServer } from 'consul-hotreload/devserver';

const server = await startDevServer({ port: 0, seed: { 'config/app/db/host': 'localhost' } });
console.log(server.address); // http://127.0.0.1:<port>

server.kv.put('config/app/db/port', '5432'); // direct writes wake blocking queries like HTTP writes
// Rehearse an outage: every read answers 500 until cleared.
server.faults.inject({ fault: { kind: 'status', status: 500 }, times: Number.POSITIVE_INFINITY });
server.faults.clear();
console.log(server.stats()); // { requests, blockingHeld, wakeups, connections, … }

await server.close(); // ends blocking queries, destroys sockets, stops timers
