/* The API reference: Swagger UI (shipped by the swagger-ui-py package, served by us, no
   CDN) over /api/v1/openapi.json, read with the desk's or board's session. */
"use strict";

(() => {
  let session = null;
  try { session = JSON.parse(sessionStorage.getItem("hotline.session") || "null"); } catch { session = null; }
  const token = session && session.token;
  if (!token) document.getElementById("login-note").hidden = false;
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    validatorUrl: null,       // never ask a public validator about our document
    requestInterceptor: (request) => {
      if (token && !request.headers.Authorization) request.headers.Authorization = `Bearer ${token}`;
      return request;
    },
  });
})();
