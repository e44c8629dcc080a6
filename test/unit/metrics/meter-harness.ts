/**
 * An OpenTelemetry SDK MeterProvider whose reader is collected by hand, and a flat view of what it
 * collected: the metrics tests read exact values without a timer.
 */
import type { Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';

/** A reader that exports nothing by itself: `collect()` is called by the test. */
class ManualReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One data point: a counter's or gauge's number, or a histogram's count and sum. */
export interface Point {
  name: string;
  unit: string;
  attributes: Attributes;
  value: number | { count: number; sum: number };
}

function flatten(resourceMetrics: ResourceMetrics): Point[] {
  const points: Point[] = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const { name, unit } = metric.descriptor;
      for (const point of metric.dataPoints) {
        const value =
          metric.dataPointType === DataPointType.HISTOGRAM
            ? { count: (point.value as Histogram).count, sum: (point.value as Histogram).sum ?? 0 }
            : (point.value as number);
        points.push({ name, unit, attributes: point.attributes, value });
      }
    }
  }
  return points;
}

/** What a test gets: the meter to instrument with and a way to read everything recorded so far. */
export interface MeterHarness {
  readonly provider: MeterProvider;
  readonly meter: ReturnType<MeterProvider['getMeter']>;
  /** Collects now and returns every data point. */
  collect(): Promise<Point[]>;
  /** The value of `name` for the series whose attributes include `attributes`, or undefined. */
  value(points: readonly Point[], name: string, attributes?: Attributes): Point['value'] | undefined;
  shutdown(): Promise<void>;
}

export function meterHarness(): MeterHarness {
  const reader = new ManualReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    meter: provider.getMeter('consul-hotreload-test'),
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
      return flatten(resourceMetrics);
    },
    value(points, name, attributes = {}) {
      const matching = points.filter(
        (point) =>
          point.name === name &&
          Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
      );
      if (matching.length > 1) throw new Error(`${matching.length} series of ${name} match`);
      return matching[0]?.value;
    },
    shutdown: () => provider.shutdown(),
  };
}
