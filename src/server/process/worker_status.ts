/**
 * status_listen with several workers: the master owns the public listener and
 * answers each scrape by asking every worker's private status port (loopback,
 * port 0), then merging: /metrics gets a `worker="PID"` label on every sample,
 * one HELP/TYPE per family; /status is `{"workers":[{"pid":..,...},..]}`. The pools
 * are the master's own (pools_link.ts): it answers their operations and their
 * `mailproxy_upstream_*` metrics itself.
 */
import http from "node:http";
import { listenStatus, type PoolOperations, poolRoute, type StatusServer } from "../../metrics/status_server.ts";
import { upstreamMetrics } from "../../metrics/upstream_metrics.ts";

interface WorkerStatusSource {
  pid: number;
  port: number;
}

function fetchText(port: number, path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path, timeout: 2000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(res.statusCode === 200 ? body : undefined));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

/** Merge Prometheus texts of several workers into one exposition, each sample labelled with its worker. */
function mergePrometheus(parts: Array<{ pid: number; text: string }>): string {
  const families = new Map<string, { head: string[]; samples: string[] }>();
  for (const { pid, text } of parts) {
    let current: { head: string[]; samples: string[] } | undefined;
    for (const line of text.split("\n")) {
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        const name = meta[2]!;
        current = families.get(name);
        if (!current) families.set(name, (current = { head: [], samples: [] }));
        if (current.head.length < 2 && !current.head.some((h) => h.startsWith(`# ${meta[1]} `))) current.head.push(line);
        continue;
      }
      if (!line || line.startsWith("#") || !current) continue;
      const m = /^([^{\s]+)(?:\{(.*)\})?\s(.*)$/.exec(line);
      if (!m) continue;
      const labels = m[2] ? `worker="${pid}",${m[2]}` : `worker="${pid}"`;
      current.samples.push(`${m[1]}{${labels}} ${m[3]}`);
    }
  }
  let out = "";
  for (const f of families.values()) out += [...f.head, ...f.samples].join("\n") + "\n";
  return out;
}

/** The master's status_listen, answering from the workers' private status ports and its own pools. */
export function startMasterStatusServer(address: string, workers: () => WorkerStatusSource[], pools: PoolOperations): Promise<StatusServer> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (poolRoute(req, res, pools)) return;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "Content-Type": "text/plain", Allow: "GET, HEAD" }).end("method not allowed\n");
      return;
    }
    if (path !== "/metrics" && path !== "/status") {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found; try /metrics or /status\n");
      return;
    }
    const list = workers();
    const texts = await Promise.all(list.map((w) => fetchText(w.port, path)));
    const answered = list.map((w, i) => ({ pid: w.pid, text: texts[i] })).filter((x): x is { pid: number; text: string } =>
      x.text !== undefined
    );
    if (path === "/metrics") {
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }).end(mergePrometheus(answered) + upstreamMetrics(await pools.upstreams()));
    } else {
      const body = { workers: answered.map((a) => ({ pid: a.pid, ...JSON.parse(a.text) })) };
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body, null, 1) + "\n");
    }
  });
  return listenStatus(server, address);
}
