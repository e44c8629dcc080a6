/**
 * sameEntries and sameInstance: a watch tells a changed answer (and a changed instance) from an unchanged one
 * by comparing fields; each must say exactly what comparing the JSON of both would (consul-semantics §4.5, §S8.3).
 */
import { describe, expect, it } from 'vitest';
import {
  type HealthServiceEntry,
  parseHealthBody,
  sameEntries,
  sameInstance,
  toInstance,
} from '../../../src/consul/health.js';

interface RawCheck {
  Node?: string;
  CheckID: string;
  Name?: string;
  Status: string;
  Notes?: string;
  Output?: string;
  ServiceID?: string;
  ServiceTags?: string[];
  Type?: string;
}

interface Raw {
  Node: {
    ID: string;
    Node: string;
    Address: string;
    Datacenter: string;
    TaggedAddresses: Record<string, string>;
    Meta: Record<string, string>;
  };
  Service: {
    ID: string;
    Service: string;
    Tags: string[];
    Address: string;
    Port: number;
    Meta: Record<string, string>;
    Weights: { Passing: number; Warning: number };
    CreateIndex: number;
    ModifyIndex: number;
  };
  Checks: RawCheck[];
}

/** Entry `i` of an answer, and check `j` of an entry: the edits below address them by position. */
const at = (raw: Raw[], i: number): Raw => raw[i] as Raw;
const checkOf = (entry: Raw, j: number): RawCheck => entry.Checks[j] as RawCheck;

/** Two instances on two nodes, with everything the parser reads set to something other than its default. */
function base(): Raw[] {
  const entry = (id: string, node: string): Raw => ({
    Node: {
      ID: `id-${node}`,
      Node: node,
      Address: '10.0.0.1',
      Datacenter: 'dc1',
      TaggedAddresses: { lan: '10.0.0.1' },
      Meta: { rack: 'r1', zone: 'z1' },
    },
    Service: {
      ID: id,
      Service: 'web',
      Tags: ['blue', 'v2'],
      Address: '10.0.1.1',
      Port: 8080,
      Meta: { version: '2', team: 'core' },
      Weights: { Passing: 3, Warning: 1 },
      CreateIndex: 5,
      ModifyIndex: 9,
    },
    Checks: [
      {
        Node: node,
        CheckID: 'serfHealth',
        Name: 'Serf',
        Status: 'passing',
        Notes: 'n',
        Output: 'alive',
        ServiceID: '',
        ServiceTags: [],
        Type: '',
      },
      {
        Node: node,
        CheckID: `service:${id}`,
        Name: 'ttl',
        Status: 'passing',
        Notes: 'notes',
        Output: 'ok',
        ServiceID: id,
        ServiceTags: ['blue'],
        Type: 'ttl',
      },
    ],
  });
  return [entry('web-1', 'node-1'), entry('web-2', 'node-2')];
}

const parse = (raw: Raw[]): HealthServiceEntry[] => parseHealthBody(raw, 'health.service', 'web', 200);

/** Every way one answer can differ from the base, and a few ways it can differ in what the parser drops. */
const EDITS: Record<string, (raw: Raw[]) => void> = {
  nothing: () => {},
  'Node.ID': (r) => {
    at(r, 0).Node.ID = 'other';
  },
  'Node.Node': (r) => {
    at(r, 1).Node.Node = 'node-9';
  },
  'Node.Address': (r) => {
    at(r, 0).Node.Address = '10.0.0.2';
  },
  'Node.Datacenter': (r) => {
    at(r, 0).Node.Datacenter = 'dc2';
  },
  'Node.Meta value': (r) => {
    at(r, 0).Node.Meta.rack = 'r2';
  },
  'Node.Meta key added': (r) => {
    at(r, 0).Node.Meta.extra = '';
  },
  'Node.Meta key removed': (r) => {
    const { zone: _, ...rest } = at(r, 0).Node.Meta;
    at(r, 0).Node.Meta = rest;
  },
  'Node.Meta keys reordered': (r) => {
    at(r, 0).Node.Meta = { zone: 'z1', rack: 'r1' };
  },
  'Node.TaggedAddresses (not parsed)': (r) => {
    at(r, 0).Node.TaggedAddresses.lan = '10.9.9.9';
  },
  'Service.ID': (r) => {
    at(r, 0).Service.ID = 'web-3';
  },
  'Service.Service': (r) => {
    at(r, 0).Service.Service = 'Web';
  },
  'Service.Tags value': (r) => {
    at(r, 0).Service.Tags[1] = 'v3';
  },
  'Service.Tags added': (r) => {
    at(r, 0).Service.Tags.push('canary');
  },
  'Service.Tags reordered': (r) => {
    at(r, 0).Service.Tags.reverse();
  },
  'Service.Address': (r) => {
    at(r, 0).Service.Address = '';
  },
  'Service.Port': (r) => {
    at(r, 1).Service.Port = 8081;
  },
  'Service.Meta value': (r) => {
    at(r, 0).Service.Meta.version = '3';
  },
  'Service.Meta key renamed': (r) => {
    at(r, 0).Service.Meta = { version: '2', owner: 'core' };
  },
  'Service.Meta keys reordered': (r) => {
    at(r, 0).Service.Meta = { team: 'core', version: '2' };
  },
  'Service.Weights.Passing': (r) => {
    at(r, 0).Service.Weights.Passing = 4;
  },
  'Service.Weights.Warning': (r) => {
    at(r, 0).Service.Weights.Warning = 0;
  },
  'Service.CreateIndex': (r) => {
    at(r, 0).Service.CreateIndex = 6;
  },
  'Service.ModifyIndex': (r) => {
    at(r, 1).Service.ModifyIndex = 10;
  },
  'Check.CheckID': (r) => {
    checkOf(at(r, 0), 1).CheckID = 'other';
  },
  'Check.Name': (r) => {
    checkOf(at(r, 0), 1).Name = 'other';
  },
  'Check.Status': (r) => {
    checkOf(at(r, 0), 1).Status = 'critical';
  },
  'Check.Status to warning': (r) => {
    checkOf(at(r, 1), 0).Status = 'warning';
  },
  'Check.Type': (r) => {
    checkOf(at(r, 0), 1).Type = 'http';
  },
  'Check.Output': (r) => {
    checkOf(at(r, 0), 1).Output = 'still ok';
  },
  'Check.Notes': (r) => {
    checkOf(at(r, 0), 0).Notes = '';
  },
  'Check.ServiceID': (r) => {
    checkOf(at(r, 0), 1).ServiceID = 'web-9';
  },
  'Check.ServiceTags (not parsed)': (r) => {
    checkOf(at(r, 0), 1).ServiceTags = [];
  },
  'a check added': (r) => {
    at(r, 0).Checks.push({ CheckID: 'extra', Status: 'passing' });
  },
  'a check removed': (r) => {
    at(r, 0).Checks.pop();
  },
  'checks reordered': (r) => {
    at(r, 0).Checks.reverse();
  },
  'entries reordered': (r) => {
    r.reverse();
  },
  'an entry added': (r) => {
    r.push(structuredClone(at(r, 0)));
  },
  'an entry removed': (r) => {
    r.pop();
  },
};

describe('sameEntries', () => {
  it.each(Object.keys(EDITS))('after %s, agrees with comparing the JSON of both answers', (name) => {
    const edited = base();
    EDITS[name]!(edited);
    const before = parse(base());
    const after = parse(edited);
    const expected = JSON.stringify(before) === JSON.stringify(after);
    expect(sameEntries(before, after)).toBe(expected);
    expect(sameEntries(after, before)).toBe(expected);
  });

  it('tells apart every edit that reaches the parsed entries, and only those', () => {
    const same = Object.keys(EDITS).filter((name) => {
      const edited = base();
      EDITS[name]!(edited);
      return sameEntries(parse(base()), parse(edited));
    });
    expect(same).toEqual(['nothing', 'Node.TaggedAddresses (not parsed)', 'Check.ServiceTags (not parsed)']);
  });
});

describe('sameInstance', () => {
  it.each(Object.keys(EDITS))('after %s, agrees with comparing the JSON of the first instance', (name) => {
    const edited = base();
    EDITS[name]!(edited);
    const before = toInstance(parse(base())[0]!);
    const after = toInstance(parse(edited)[0]!);
    const expected = JSON.stringify(before) === JSON.stringify(after);
    expect(sameInstance(before, after)).toBe(expected);
    expect(sameInstance(after, before)).toBe(expected);
  });

  it('ignores what an instance does not carry (node ID, datacenter and meta, indexes) and the other entry', () => {
    const same = Object.keys(EDITS).filter((name) => {
      const edited = base();
      EDITS[name]!(edited);
      return sameInstance(toInstance(parse(base())[0]!), toInstance(parse(edited)[0]!));
    });
    expect(same).toEqual([
      'nothing',
      'Node.ID',
      'Node.Node',
      // The service's own address is the instance's: the node's is not used.
      'Node.Address',
      'Node.Datacenter',
      'Node.Meta value',
      'Node.Meta key added',
      'Node.Meta key removed',
      'Node.Meta keys reordered',
      'Node.TaggedAddresses (not parsed)',
      // Edited on the second entry.
      'Service.Port',
      'Service.CreateIndex',
      'Service.ModifyIndex',
      'Check.Status to warning',
      'Check.ServiceTags (not parsed)',
      'an entry added',
      'an entry removed',
    ]);
  });
});
