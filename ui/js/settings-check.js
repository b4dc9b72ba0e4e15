// What failed its check before saving: the Test buttons' failures (remembered with the values
// tested, so saving those very values asks first) and the backend's own checks of a changed
// database or Redis URL. Pure functions, tested in ui/tests.

const NAMES = { redisUrl: "Redis", databaseUrl: "Database", apiKey: "Polygon API key", polygonBaseUrl: "Polygon" };

/** A memory of the Test buttons' results, each with the values it tested. */
export function createTestMemory() {
  const tests = new Map();
  return {
    record(field, values, ok, message) {
      tests.set(field, { key: JSON.stringify(values), ok: Boolean(ok), message: String(message || "") });
    },
    /** Tests that failed on exactly the values about to be saved: [{field, message}]. */
    failures(current) {
      const out = [];
      for (const [field, values] of Object.entries(current)) {
        const t = tests.get(field);
        if (t && !t.ok && t.key === JSON.stringify(values)) {
          out.push({ field, message: `Its test failed: ${t.message.replace(/\.$/, "")}.` });
        }
      }
      return out;
    },
    clear() {
      tests.clear();
    },
  };
}

/** The backend's problems first, then the tests' for other fields (one per field). */
export function mergeProblems(fromBackend, fromTests) {
  const seen = new Set();
  const out = [];
  for (const p of [...(Array.isArray(fromBackend) ? fromBackend : []), ...(fromTests || [])]) {
    if (!p || seen.has(p.field)) continue;
    seen.add(p.field);
    out.push(p);
  }
  return out;
}

/** One line per problem: "Database: The database does not answer: …". */
export const problemLines = (problems) => problems.map((p) => `${NAMES[p.field] || p.field}: ${p.message}`);

/** The toast after saving: what the backend did, and a worker that is off, said plainly. */
export function savedToast(view, restarted) {
  const did = restarted ? "The backend restarted with them." : "Applied at once; running jobs go on.";
  const bw = view && view.builtinWorker;
  if (bw && bw.state === "unable") {
    return { title: "Settings saved", body: `${did} The built-in worker is off: ${bw.reason}.`, variant: "warning" };
  }
  return { title: "Settings saved", body: did, variant: "success" };
}
