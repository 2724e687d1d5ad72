/**
 * Ends a test run with one plain line, `N passed, N failed, N skipped`, that
 * any CI log reader understands without knowing vitest's own summary. Before
 * it come the notes of tests skipped with one (`ctx.skip(note)`, e.g. the
 * `needs root: ...` of test/root.ts), one line per file and note, so a skip
 * always says why.
 */
import * as path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const notes = new Map<string, number>();
    for (const mod of testModules) {
      const file = path.relative(mod.project.config.root, mod.moduleId);
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else skipped++;
        if (result.state === 'skipped' && result.note !== undefined) {
          const key = `${file}\n${result.note}`;
          notes.set(key, (notes.get(key) ?? 0) + 1);
        }
      }
      // A file that failed to load has no tests but must count as a failure.
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed++;
    }
    const lines = [...notes].map(([key, n]) => {
      const [file, note] = key.split('\n');
      return `${file}: ${n} skipped: ${note}`;
    });
    const noteBlock = lines.length === 0 ? '' : `\n${lines.join('\n')}\n`;
    process.stdout.write(`${noteBlock}\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
