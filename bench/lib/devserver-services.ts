/**
 * The services the dev-server bench registers: `count` services of `instancesPerService` instances, one check
 * each; the first half of a service's instances carry a TTL check, the rest an HTTP check. Parent and child
 * build the same names from the same numbers, so the names need not be sent around.
 * @module
 */

/** How many services, instances and checks, and how often the HTTP checks run. */
export interface ServiceBenchLayout {
  readonly count: number;
  readonly instancesPerService: number;
  /** The HTTP checks' Interval, in ms (Consul's floor is 1 s). */
  readonly httpIntervalMs: number;
}

/** The name of the s-th service: `bench-svc-042`. */
export function benchServiceName(s: number): string {
  return `bench-svc-${String(s).padStart(3, '0')}`;
}

/** The ID of an instance: `bench-svc-042-07`. */
export function benchInstanceId(s: number, i: number): string {
  return `${benchServiceName(s)}-${String(i).padStart(2, '0')}`;
}

/** The check ID of the TTL check the bench flips: instance 0's (Consul names a service's only check `service:<id>`). */
export function benchTtlCheckId(s: number): string {
  return `service:${benchInstanceId(s, 0)}`;
}

/** Whether instance `i` carries the TTL check (else the HTTP check). */
export function hasTtlCheck(layout: ServiceBenchLayout, i: number): boolean {
  return i < Math.ceil(layout.instancesPerService / 2);
}

/**
 * The ServiceDefinitions, as `PUT /v1/agent/service/register` takes them. Every check starts `passing`; TTLs
 * are an hour, so none expires during a run.
 */
export function benchServiceDefinitions(layout: ServiceBenchLayout, httpTarget: string): unknown[] {
  const definitions: unknown[] = [];
  for (let s = 0; s < layout.count; s++) {
    for (let i = 0; i < layout.instancesPerService; i++) {
      const check = hasTtlCheck(layout, i)
        ? { TTL: '1h', Status: 'passing' }
        : { HTTP: httpTarget, Interval: `${layout.httpIntervalMs}ms`, Timeout: '2s', Status: 'passing' };
      definitions.push({
        ID: benchInstanceId(s, i),
        Name: benchServiceName(s),
        Tags: ['bench', `shard-${i % 3}`],
        Meta: { version: '1.0.0' },
        Address: '127.0.0.1',
        Port: 20_000 + s * 10 + i,
        Check: check,
      });
    }
  }
  return definitions;
}
