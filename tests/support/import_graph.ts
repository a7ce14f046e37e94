/**
 * The import graph of src/, read from the source text: which module imports which,
 * and the circles in it. Only relative imports count (packages and node: builtins
 * cannot import our modules back).
 */
import fs from "node:fs";
import path from "node:path";

export interface ImportEdge {
  from: string;
  to: string;
}

/** The relative module specifiers one module's text imports or re-exports from, `import type` included. */
export function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s[^;"'`]*?\sfrom\s+["']([^"']+)["']/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/^import\s+["']([^"']+)["']/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) found.push(m[1]!);
  return found.filter((specifier) => specifier.startsWith("."));
}

/** Every .ts file under `dir`, as paths relative to `root`. */
function sourceFiles(root: string, dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(root, rel);
    return e.name.endsWith(".ts") ? [rel] : [];
  });
}

/** The edges between the modules under `root/dir`. */
export function importGraph(root: string, dir: string): ImportEdge[] {
  return sourceFiles(root, dir).flatMap((from) =>
    importsOf(fs.readFileSync(path.join(root, from), "utf8")).map((specifier) => ({
      from,
      to: path.normalize(path.join(path.dirname(from), specifier)),
    }))
  );
}

/**
 * Each strongly connected group of modules (Tarjan): its members, sorted, and one
 * shortest circle through the first, as `[a, b, a]`.
 */
export function circles(edges: readonly ImportEdge[]): Array<{ members: string[]; circle: string[] }> {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        onStack.delete(w);
        group.push(w);
        if (w === v) break;
      }
      if (group.length > 1 || (next.get(v) ?? []).includes(v)) groups.push(group);
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return groups.map((group) => ({ members: group.sort(), circle: circleWithin(new Set(group), next) }));
}

/** A shortest path from the group's first module back to itself, staying inside the group. */
function circleWithin(group: Set<string>, next: Map<string, string[]>): string[] {
  const start = [...group].sort()[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of next.get(v) ?? []) {
      if (!group.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at = v; at !== start; at = cameFrom.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
