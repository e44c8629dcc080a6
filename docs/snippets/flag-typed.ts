import { createFlag, Watcher } from 'consul-hotreload';
import { z } from 'zod';

const watcher = new Watcher({ address: 'http://127.0.0.1:8500', roots: ['flags/'] });

// A number, refused (so the default applies) unless it is an integer from 0 to 100.
const rollout = createFlag(watcher, 'flags/search/rollout-percent', {
  type: 'number',
  default: 0,
  schema: z.number().int().min(0).max(100),
});

// A string restricted to known variants.
const variant = createFlag(watcher, 'flags/search/ranking', {
  type: 'string',
  default: 'classic',
  schema: z.enum(['classic', 'semantic']),
});

// A JSON object; its type comes from the default (and the schema checks it).
const banner = createFlag(watcher, 'flags/home/banner', {
  type: 'object',
  default: { enabled: false, text: '' },
  schema: z.object({ enabled: z.boolean(), text: z.string().max(200) }),
});

export function searchSettings(userBucket: number) {
  return {
    semantic: variant.value === 'semantic' && userBucket < rollout.value,
    banner: banner.value.enabled ? banner.value.text : undefined,
    why: { rollout: rollout.reason, variant: variant.reason }, // 'stored' | 'missing' | 'invalid' | 'pending'
  };
}
