import { describe, expect, it } from 'vitest';
import { LabelTree } from '../src/label-tree.js';

describe('LabelTree', () => {
  it('finds each series under exactly its label values, and nothing before it was filed', () => {
    const tree = new LabelTree<{ n: number }>();
    expect(tree.get(['sse', 'm'])).toBeUndefined();
    const a = { n: 1 };
    const b = { n: 2 };
    tree.set(['sse', 'm'], a);
    tree.set(['ws', 'm'], b);
    expect(tree.get(['sse', 'm'])).toBe(a);
    expect(tree.get(['ws', 'm'])).toBe(b);
    // A joined key would confuse these; nested levels do not.
    expect(tree.get(['sse', 'x'])).toBeUndefined();
    expect(tree.get(['ss', 'em'])).toBeUndefined();
    expect(tree.get(['other', 'm'])).toBeUndefined();
  });

  it('holds one-label series and forgets everything on clear', () => {
    const tree = new LabelTree<string>();
    tree.set(['only'], 'series');
    expect(tree.get(['only'])).toBe('series');
    tree.clear();
    expect(tree.get(['only'])).toBeUndefined();
  });
});
