/**
 * Counters of one label schema kept for the per-connection hot path, exported through
 * prom-client's registry as ordinary counters (its metric interface: name, help, type, get,
 * reset). prom-client's own `Counter.inc(labels)` hashes and validates all 23 TCP labels on every
 * call, and its `labels()` child only binds the object, so the hashing stays per call; here a
 * caller holds a `LabelSet` (the label values and their key, built once per label set) and an
 * increment is a field read and an add. The exported values are prom-client's shape (`{ labels,
 * value }` in first-increment order, a series only once incremented), so the text on the metrics
 * port is the same as with prom-client's Counter (counter-family.test.ts compares the two).
 *
 * Invariant: a `LabelSet`'s cell for a family is the family's current cell for its key; after a
 * `reset` (registry.resetMetrics) the family's generation moves on and old cells are looked up
 * again, so a held label set counts from zero, as prom-client's does.
 */
import type { Registry } from "prom-client";

type Labels = Readonly<Record<string, string>>;

interface Cell {
  readonly labels: Labels;
  value: number;
  readonly generation: number;
}

/** One label set, shared by everything that counts under it; opaque beyond its labels. */
export interface LabelSet<L extends Labels = Labels> {
  readonly labels: L;
  /** The values joined, unique per label set. */
  readonly key: string;
  /** Per family (by its slot), its cell for this key. */
  readonly cells: Array<Cell | undefined>;
}

/** Builds the key of `labels` over `names` (the schema's order). */
export function labelSet<L extends Labels>(names: readonly string[], labels: L): LabelSet<L> {
  let key = "";
  for (const n of names) key += `${labels[n] ?? ""}\u0000`;
  return { labels, key, cells: [] };
}

export class CounterFamily {
  readonly type = "counter";
  readonly aggregator = "sum";
  private readonly cells = new Map<string, Cell>();
  private generation = 0;

  /** `slot`: this family's index in `LabelSet.cells`, distinct per family sharing label sets. */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly slot: number,
    private readonly collect?: () => void,
  ) {}

  /** Adds `n` (> 0; default 1) to the series of `set`. */
  inc(set: LabelSet, n = 1): void {
    let c = set.cells[this.slot];
    if (c === undefined || c.generation !== this.generation) {
      c = this.cells.get(set.key);
      if (c === undefined) {
        c = { labels: set.labels, value: 0, generation: this.generation };
        this.cells.set(set.key, c);
      }
      set.cells[this.slot] = c;
    }
    c.value += n;
  }

  /** The value of `set`'s series (0 when never incremented): for tests and dumps. */
  valueOf(set: LabelSet): number {
    return this.cells.get(set.key)?.value ?? 0;
  }

  get(): Promise<{ name: string; help: string; type: "counter"; values: Array<{ labels: Labels; value: number }>; aggregator: "sum" }> {
    this.collect?.();
    const values = [...this.cells.values()].map((c) => ({ value: c.value, labels: c.labels }));
    return Promise.resolve({ help: this.help, name: this.name, type: "counter", values, aggregator: "sum" });
  }

  reset(): void {
    this.cells.clear();
    this.generation++;
  }

  register(registry: Registry): this {
    registry.registerMetric(this as never);
    return this;
  }
}
