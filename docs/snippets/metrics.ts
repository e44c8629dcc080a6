import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Watcher } from 'consul-hotreload';
import { instrumentWatcher } from 'consul-hotreload/metrics';

// Your application's OpenTelemetry setup, once per process: here Prometheus on :9464/metrics.
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PrometheusExporter({ port: 9464 })] }));

const watcher = new Watcher({ address: 'http://127.0.0.1:8500' });
// Instruments on metrics.getMeter('consul-hotreload'); pass { meter } to use another one.
const instrumentation = instrumentWatcher(watcher);

const app = watcher.watch('config/app/', { format: 'json' });
console.log(await app.ready);

// On shutdown: stop recording, then close the watcher.
instrumentation.close();
await watcher.close();
