// Ask /ask, show the quoted sentences highlighted, and let each citation open onto its source passage.
"use strict";

// Same rule as service/chat.py cited_evidence: the best sentence and up to two nearly as good.
const SUPPORT_RATIO = 0.85;
const MAX_CITATIONS = 3;
const METADATA_LABELS = [
  ["inspectorate", "Inspectorate"], ["publisher", "Publisher"], ["inspector", "Inspector"],
  ["force", "Force"], ["year", "Year"], ["date", "Date"], ["report_type", "Report type"], ["source_url", "Source"],
];
const documents = new Map();

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// Offsets from the service count Unicode code points, as Python does; JavaScript strings count UTF-16 units.
function codePointSlice(text, start, end) {
  return Array.from(text).slice(start, end).join("");
}

function citedEvidence(evidence) {
  if (!evidence.length) return [];
  const floor = evidence[0].score * SUPPORT_RATIO;
  return [evidence[0], ...evidence.slice(1, MAX_CITATIONS).filter((e) => e.score >= floor)];
}

function apiHeaders() {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("iqa-api-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function fetchJson(url, options = {}) {
  const response = await fetch(url, { ...options, headers: apiHeaders() });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    $("api-key-row").hidden = false;
    $("api-key").focus();
  }
  if (!response.ok) throw new Error(body.detail || `The service answered ${response.status}.`);
  return body;
}

async function documentInfo(docId) {
  if (!documents.has(docId)) documents.set(docId, fetchJson(`/documents/${docId.split("/").map(encodeURIComponent).join("/")}`));
  return documents.get(docId);
}

function renderAnswer(cited, passage) {
  const body = $("answer-body");
  body.replaceChildren();
  cited.forEach((evidence, i) => {
    const number = i + 1;
    const quote = element("mark", { class: "quote", "data-doc-id": evidence.doc_id, "data-start": evidence.start, "data-end": evidence.end }, evidence.text);
    const link = element("a", { href: `#source-${number}`, class: "citation", "aria-label": `Source ${number}` }, `[${number}]`);
    link.addEventListener("click", () => { $(`source-${number}`).open = true; });
    // The first quote is the answer's passage: the key sentence marked, with the sentences that complete it.
    const quoted = i === 0 && passage ? withContext(quote, passage) : [quote];
    body.append(element("p", {}, element("q", {}, ...quoted), " ", link));
  });
}

function withContext(mark, passage) {
  return [codePointSlice(passage.text, 0, passage.key_start - passage.start), mark,
    codePointSlice(passage.text, passage.key_end - passage.start, passage.end - passage.start)];
}

function passageFor(evidence, passages) {
  return passages.find((p) => p.doc_id === evidence.doc_id && p.start <= evidence.start && evidence.end <= p.end);
}

function markedPassage(evidence, passage, text) {
  // The passage that holds the sentence, or a window of the document around it.
  const start = passage ? passage.start : Math.max(0, evidence.start - 300);
  const end = passage ? passage.end : evidence.end + 300;
  const source = passage ? passage.text : codePointSlice(text, start, end);
  return element("blockquote", { class: "passage" },
    codePointSlice(source, 0, evidence.start - start),
    element("mark", { class: "source-sentence" }, codePointSlice(source, evidence.start - start, evidence.end - start)),
    codePointSlice(source, evidence.end - start, end - start));
}

function metadataList(info) {
  const list = element("dl", { class: "metadata" });
  for (const [key, label] of METADATA_LABELS) {
    if (info.metadata[key] === undefined) continue;
    list.append(element("dt", {}, label), element("dd", {}, String(info.metadata[key])));
  }
  list.append(element("dt", {}, "Document"), element("dd", {}, info.doc_id));
  return list;
}

// "p. 12" or "pp. 12–13", as service/chat.py page_label writes it.
function pageLabel(pages) {
  if (!pages || !pages.length) return "";
  return pages.length === 1 ? `p. ${pages[0]}` : `pp. ${pages[0]}–${pages[pages.length - 1]}`;
}

async function renderSource(evidence, number, passages) {
  const section = evidence.section && evidence.section.length ? `, ${evidence.section.join(" › ")}` : "";
  const where = [evidence.doc_id, pageLabel(evidence.pages), `characters ${evidence.start}–${evidence.end}`].filter(Boolean).join(", ");
  const summary = element("summary", {}, `[${number}] ${evidence.title}${section}`, element("span", { class: "where" }, ` ${where}`));
  const details = element("details", { id: `source-${number}` }, summary);
  const item = element("li", {}, details);
  $("source-list").append(item);
  try {
    const info = await documentInfo(evidence.doc_id);
    details.append(markedPassage(evidence, passageFor(evidence, passages), info.text), metadataList(info));
  } catch (error) {
    details.append(element("p", { class: "error" }, `Could not load the source: ${error.message}`));
  }
}

// From this probability on, a quote the verdict accepts reads "sure"; below it, "likely" (service/terminal.py SURE).
const SURE = 0.8;

function sureness(answer) {
  if (answer.verdict === "uncertain") return "Unsure: this is the closest passage, not a sure answer.";
  return answer.confidence >= SURE ? "Sure: this quote answers the question." : "Likely: this quote probably answers the question.";
}

function showAnswer(answer) {
  const cited = citedEvidence(answer.evidence);
  const uncertain = answer.verdict === "uncertain";
  $("no-answer").hidden = !answer.abstained;
  $("answer").hidden = answer.abstained;
  $("sources").hidden = answer.abstained;
  $("source-list").replaceChildren();
  if (answer.abstained) {
    $("no-answer-confidence").textContent = answer.notice || "";
    return;
  }
  $("answer-heading").textContent = uncertain ? "Closest passage" : "Answer";
  $("uncertain-note").hidden = !uncertain;
  renderAnswer(cited, answer.quote);
  $("confidence").textContent = sureness(answer);
  // The numbers behind the words, for a reader who wants them.
  $("confidence").title = `Probability that the quote answers the question: ${answer.confidence.toFixed(2)}; that the reports cover it: ${answer.coverage.toFixed(2)}`;
  cited.forEach((evidence, i) => renderSource(evidence, i + 1, answer.passages));
}

async function ask(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) sessionStorage.setItem("iqa-api-key", key);
  const question = $("question").value.trim();
  if (!question) return;
  $("ask-button").disabled = true;
  $("status").textContent = "Searching the reports…";
  try {
    const answer = await fetchJson("/ask", { method: "POST", body: JSON.stringify({ question }) });
    showAnswer(answer);
    $("status").textContent = `Answered in ${Math.round(answer.took_ms)} ms.`;
  } catch (error) {
    $("status").textContent = error.message;
  } finally {
    $("ask-button").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("ask-form").addEventListener("submit", ask);
  $("question").focus();
});
