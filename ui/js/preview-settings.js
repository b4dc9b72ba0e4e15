// The preview's settings commands: read, impact, save, and the Redis, database and Polygon tests.

/**
 * @param {{settings: object, mode: () => string, jobs: Map<string, object>, q: URLSearchParams, fail: (kind: string, message: string, field?: string) => never}} ctx
 */
export function previewSettingsCommands({ settings, mode, jobs, q, fail }) {
  return {
    get_settings: () => ({ ...settings, mode: mode() }),
    settings_impact({ settings: s }) {
      const restart = ["redisUrl", "databaseUrl", "environment", "polygonBaseUrl", "workerEnabled", "workerConcurrency"]
        .filter((k) => s[k] !== undefined && s[k] !== settings[k]);
      if (s.apiKey || s.removeApiKey) restart.push("apiKey");
      return { restart, activeJobs: [...jobs.values()].filter((j) => j.active).length };
    },
    save_settings({ settings: s }) {
      if (s.requestsPerMinute < 0) fail("invalid_input", "Requests per minute cannot be negative.", "requestsPerMinute");
      if (s.polygonBaseUrl && !/^https?:\/\//.test(s.polygonBaseUrl)) fail("invalid_input", "The Polygon base URL must start with https://.", "polygonBaseUrl");
      if (s.apiKey && s.apiKey.toLowerCase() === "invalid") fail("invalid_input", "Polygon rejected this API key (401 Unauthorized).", "apiKey");
      Object.assign(settings, {
        redisUrl: s.redisUrl, databaseUrl: s.databaseUrl, environment: s.environment, polygonBaseUrl: s.polygonBaseUrl,
        requestsPerMinute: s.requestsPerMinute, publishLegacy: s.publishLegacy, workerEnabled: s.workerEnabled, workerConcurrency: s.workerConcurrency,
      });
      if (s.removeApiKey) Object.assign(settings, { apiKeySet: false, apiKeyHint: null, apiKeyStorage: null });
      else if (s.apiKey) Object.assign(settings, { apiKeySet: true, apiKeyHint: `••••${s.apiKey.slice(-4)}`, apiKeyStorage: "keyring" });
      return { ...settings, mode: mode() };
    },
    test_redis({ url }) {
      if (!url) return { ok: true, message: "No Redis URL: the app runs in embedded mode.", latencyMs: null };
      if (!/^rediss?:\/\//.test(url)) return { ok: false, message: "Not a Redis URL (expected redis://host:port).", latencyMs: null };
      if (q.get("redis") === "down") return { ok: false, message: "Connection refused (os error 111).", latencyMs: null };
      return { ok: true, message: "Connected to Redis 7.0.15.", latencyMs: 0.6 };
    },
    test_database({ url }) {
      if (!url) return { ok: true, message: "Embedded SQLite file is ready.", latencyMs: 0.2 };
      if (!/^(postgres(ql)?:\/\/|sqlite:)/.test(url)) return { ok: false, message: "Not a database URL (expected postgres://… or sqlite:…).", latencyMs: null };
      return { ok: true, message: "Connected to PostgreSQL 15.8; schema is up to date.", latencyMs: 2.1 };
    },
    test_polygon({ baseUrl, apiKey }) {
      if (!apiKey && !settings.apiKeySet) return { ok: false, message: "No API key: enter one first.", latencyMs: null };
      if (apiKey && apiKey.toLowerCase() === "invalid") return { ok: false, message: "Polygon answered 401 Unauthorized: the key is not valid.", latencyMs: 140 };
      return { ok: true, message: `Key accepted by ${baseUrl || "Polygon"}.`, latencyMs: 118 };
    },
  };
}
