import t from 'tap';
import { interpretedOf, threadTotals } from '../../bench/instructions.js';

t.test("threadTotals splits callgrind's per-thread dumps into the main thread and the rest", (t) => {
  const dump = (n: number): string => `version: 1\ncreator: callgrind-3.19.0\nevents: Ir\n\nsummary: 0\ntotals: ${n}\n`;
  const r = threadTotals([
    { name: 'cg.out.1-01', text: dump(3_000_000) },
    { name: 'cg.out.1-02', text: dump(0) },
    { name: 'cg.out.1-03', text: dump(120_000) },
    { name: 'cg.out.1-04', text: 'no totals line' },
  ]);
  t.same(r, { main: 3_000_000, others: 120_000 }, 'totals, not the summary line; a dump without totals counts nothing');
  t.end();
});

t.test('interpretedOf sums the bytecode handlers and the interpreter entry, nothing else', (t) => {
  const annotated = [
    '--------------------------------------------------------------------------------',
    'Ir                   file:function',
    '--------------------------------------------------------------------------------',
    "1,161,000 ( 1.15%)  ???:Builtins_GetNamedPropertyHandler'2 [/x/node]",
    '  132,000 ( 0.13%)  ???:Builtins_TestEqualStrictHandler [/x/node]',
    '  259,000 ( 0.26%)  ???:Builtins_InterpreterEntryTrampoline [/x/node]',
    '4,795,000 ( 4.73%)  ???:Builtins_KeyedLoadIC_Megamorphic [/x/node]',
    '1,240,000 ( 1.22%)  ???:v8::HandleScope::HandleScope(v8::Isolate*) [/x/node]',
    '   99,000 ( 0.10%)  ???:0x0000000020b0c2c0 [???]',
  ].join('\n');
  t.equal(interpretedOf(annotated), 1_161_000 + 132_000 + 259_000);
  t.end();
});
