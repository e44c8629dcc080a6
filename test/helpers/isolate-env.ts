/**
 * Runs before every test file: removes the operator's CONSUL_* variables, so no test ever reaches a real
 * cluster because a shell exported CONSUL_HTTP_ADDR or a token. The real-agent tests opt in with
 * CONSUL_HOTRELOAD_TEST_ADDR (see test/integration/real-consul.test.ts).
 */
for (const name of Object.keys(process.env)) {
  if (name.startsWith('CONSUL_') && !name.startsWith('CONSUL_HOTRELOAD_')) delete process.env[name];
}
