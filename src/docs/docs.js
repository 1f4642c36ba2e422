// Starts Swagger UI (vendor/swagger-ui) on this server's own document. No request leaves the
// origin: no validator badge, no remote assets; "Authorize" takes a bearer token (a session
// JWT or an hdy_ auth token) for try-it-out calls.
"use strict";

// The filter box matches an operation's tag, method, path, summary or operation id (Swagger
// UI's own filter matches tag names only).
const FilterAnyText = () => ({
  fn: {
    opsFilter: (taggedOps, phrase) => {
      const words = String(phrase || "").toLowerCase().split(/\s+/).filter(Boolean);
      if (words.length === 0) return taggedOps;
      const matches = (tag, op) => {
        const text = [
          tag,
          op.get("method"),
          op.get("path"),
          op.getIn(["operation", "summary"]),
          op.getIn(["operation", "operationId"]),
        ].join(" ").toLowerCase();
        return words.every((w) => text.includes(w));
      };
      return taggedOps
        .map((tagObj, tag) => tagObj.update("operations", (ops) => ops.filter((op) => matches(tag, op))))
        .filter((tagObj) => tagObj.get("operations").size > 0);
    },
  },
});

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  plugins: [FilterAnyText],
  layout: "BaseLayout",
  deepLinking: true,
  filter: true,
  validatorUrl: null,
  displayRequestDuration: true,
  showExtensions: true,
  defaultModelsExpandDepth: 0,
  docExpansion: "list",
  tryItOutEnabled: false,
  persistAuthorization: false,
});
