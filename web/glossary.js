// "Names and terms": the team's glossary (`PATCH /v1/tenant {"glossary": [...]}`), one term per
// line. Whisper is given these in every session and recording of the team, so names and jargon
// come out spelled the team's way. Admins edit it; other members read it.

import { api } from "./api.js";
import { problemMessage, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const ADMIN_ROLES = ["OWNER", "ADMIN"];

export function showGlossary(me) {
  const admin = ADMIN_ROLES.includes(me.user.role);
  $("glossary-terms").value = (me.tenant.glossary || []).join("\n");
  $("glossary-terms").readOnly = !admin;
  $("glossary-save").hidden = !admin;
  $("glossary-admin-only").hidden = admin;
  $("glossary-status").textContent = "";
  $("glossary-error").textContent = "";
}

async function save() {
  $("glossary-error").textContent = "";
  $("glossary-status").textContent = "";
  const glossary = $("glossary-terms").value.split("\n").map((line) => line.trim()).filter(Boolean);
  try {
    const tenant = await api("/v1/tenant", { method: "PATCH", body: { glossary } });
    $("glossary-terms").value = tenant.glossary.join("\n");
    $("glossary-status").textContent = t("glossary.saved", { n: tenant.glossary.length });
  } catch (e) {
    $("glossary-error").textContent = problemMessage(e);
  }
}

export function initGlossary() {
  $("glossary-save").addEventListener("click", save);
}
