import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkDescriptor, type WorkflowDescriptor } from '../../subsystems/rms/descriptor.js';
import { startHarness, type Harness } from '../fixtures/rms-harness.js';

const known = (name: string) => name === 't.noop';
const base = (steps: WorkflowDescriptor['steps'], extra: Partial<WorkflowDescriptor> = {}): WorkflowDescriptor => ({ name: 'wf', output: 'TestSolution', steps, ...extra });

function rejection(descriptor: WorkflowDescriptor): { code?: string; message: string } {
  try {
    checkDescriptor(descriptor, known);
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('the descriptor was accepted');
}

describe('checking a workflow descriptor', () => {
  test('a cycle between steps is rejected with DPC_RMS_CYCLE, naming the workflow and the path that closes it', () => {
    const err = rejection(
      base([
        { name: 'a', tasktype: 't.noop', after: ['c'] },
        { name: 'b', tasktype: 't.noop', after: ['a'] },
        { name: 'c', tasktype: 't.noop', after: ['b'] },
      ]),
    );
    expect(err.code).toBe('DPC_RMS_CYCLE');
    expect(err.message).toContain('workflow "wf"');
    expect(err.message).toMatch(/a → c → b → a|c → b → a → c|b → a → c → b/);
  });

  test('a step that runs after itself is a cycle', () => {
    expect(rejection(base([{ name: 'a', tasktype: 't.noop', after: ['a'] }])).code).toBe('DPC_RMS_CYCLE');
  });

  test('an unknown task type is rejected with DPC_RMS_DESCRIPTOR naming the workflow and the step', () => {
    const err = rejection(base([{ name: 'ok', tasktype: 't.noop' }, { name: 'calibrate', tasktype: 'no.such.task' }]));
    expect(err.code).toBe('DPC_RMS_DESCRIPTOR');
    expect(err.message).toBe('workflow "wf", step "calibrate": unknown task type "no.such.task"');
  });

  test('a bad cron expression is rejected naming the workflow and the trigger', () => {
    const err = rejection(base([{ name: 'a', tasktype: 't.noop' }], { triggers: [{ kind: 'cron', schedule: '61 * * * *' }] }));
    expect(err.code).toBe('DPC_RMS_DESCRIPTOR');
    expect(err.message).toMatch(/^workflow "wf": trigger 1: bad cron expression "61 \* \* \* \*"/);
  });

  test('a priority out of range or not whole is rejected with DPC_RMS_PRIORITY naming the workflow and the step', () => {
    const step = rejection(base([{ name: 'a', tasktype: 't.noop', priority: 1001 }]));
    expect(step.code).toBe('DPC_RMS_PRIORITY');
    expect(step.message).toContain('workflow "wf", step "a"');
    expect(step.message).toContain('1001');
    const wf = rejection(base([{ name: 'a', tasktype: 't.noop' }], { priority: 1.5 }));
    expect(wf.code).toBe('DPC_RMS_PRIORITY');
    expect(wf.message).toContain('workflow "wf"');
  });

  test('a step that runs after a step the workflow does not have is rejected', () => {
    const err = rejection(base([{ name: 'a', tasktype: 't.noop', after: ['ghost'] }]));
    expect(err.message).toBe('workflow "wf", step "a": it runs after "ghost", which is not a step of this workflow');
  });

  test('two steps with one name, a bad retry and a data trigger without dmtype are each rejected', () => {
    expect(rejection(base([{ name: 'a', tasktype: 't.noop' }, { name: 'a', tasktype: 't.noop' }])).message).toContain('two steps have this name');
    expect(rejection(base([{ name: 'a', tasktype: 't.noop', retry: { attempts: 0 } }])).message).toContain('step "a": retry.attempts');
    expect(rejection(base([{ name: 'a', tasktype: 't.noop' }], { triggers: [{ kind: 'data', dmtype: '' }] })).message).toContain('a data trigger needs dmtype');
  });

  test('the steps come out in an order where every step follows its upstream steps', () => {
    const checked = checkDescriptor(
      base([
        { name: 'd', tasktype: 't.noop', after: ['b', 'c'] },
        { name: 'c', tasktype: 't.noop', after: ['a'] },
        { name: 'b', tasktype: 't.noop', after: ['a'] },
        { name: 'a', tasktype: 't.noop' },
      ]),
      known,
    );
    const at = (s: string) => checked.order.indexOf(s);
    expect(checked.order).toHaveLength(4);
    expect(at('a')).toBeLessThan(at('b'));
    expect(at('a')).toBeLessThan(at('c'));
    expect(at('b')).toBeLessThan(at('d'));
    expect(at('c')).toBeLessThan(at('d'));
  });

  test('a six-field cron expression (seconds) is accepted', () => {
    expect(() => checkDescriptor(base([{ name: 'a', tasktype: 't.noop' }], { triggers: [{ kind: 'cron', schedule: '*/1 * * * * *' }] }), known)).not.toThrow();
  });
});

describe('registering descriptors', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  test('the descriptors of the configured module are registered at start, version 1 each', async () => {
    const rows = (await h.knex('rms_descriptor').where({ name: 'dag' })) as { version: number }[];
    expect(rows.map((r) => Number(r.version))).toEqual([1]);
  });

  test('an unchanged descriptor keeps its version; a changed one gets the next', async () => {
    const descriptor = base([{ name: 'a', tasktype: 't.noop' }], { name: 'versioned' });
    const first = await h.rms.register(descriptor);
    expect(first.version).toBe(1);
    expect(await h.rms.register({ ...descriptor, steps: [{ name: 'a', tasktype: 't.noop' }] })).toEqual(first);

    // Another process (here, a registry of its own: this one refuses a second descriptor of a name).
    const { Registry } = await import('../../subsystems/rms/registry.js');
    const other = new Registry(h.dpc.db, { now: () => Date.now() } as never, (n) => n.startsWith('t.'));
    const changed = await other.register({ ...descriptor, steps: [{ name: 'a', tasktype: 't.noop', timeoutMs: 5000 }] });
    expect(changed.version).toBe(2);
    expect(changed.descid).not.toBe(first.descid);
    const third = new Registry(h.dpc.db, { now: () => Date.now() } as never, (n) => n.startsWith('t.'));
    const again = await third.register({ ...descriptor, steps: [{ name: 'a', tasktype: 't.noop' }] });
    expect(again.version).toBe(1);

    const rows = (await h.knex('rms_descriptor').where({ name: 'versioned' }).orderBy('version')) as { version: number; descriptor: string }[];
    expect(rows.map((r) => Number(r.version))).toEqual([1, 2]);
    expect(JSON.parse(rows[1].descriptor).steps[0].timeoutMs).toBe(5000);
  });

  test('a second, different descriptor of a name in one process is refused', async () => {
    await h.rms.register(base([{ name: 'a', tasktype: 't.noop' }], { name: 'once' }));
    await expect(h.rms.register(base([{ name: 'a', tasktype: 't.sleep' }], { name: 'once' }))).rejects.toMatchObject({ code: 'DPC_RMS_DESCRIPTOR' });
  });

  test('register rejects a bad descriptor without writing a version', async () => {
    await expect(h.rms.register(base([{ name: 'x', tasktype: 'missing' }], { name: 'bad' }))).rejects.toThrow('workflow "bad", step "x": unknown task type "missing"');
    expect(await h.knex('rms_descriptor').where({ name: 'bad' })).toHaveLength(0);
  });

  test('a workflow keeps the descriptor version it was created with', async () => {
    const s = await h.rms.start('versioned', {}, { username: 'alice', reason: 'check version' });
    const [wf] = (await h.knex('rms_workflow').where({ id: s.id })) as { descid: number }[];
    const [descriptor] = (await h.knex('rms_descriptor').where({ id: wf.descid })) as { version: number }[];
    expect(Number(descriptor.version)).toBe(1);
  });
});
