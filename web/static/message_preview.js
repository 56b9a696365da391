// The journey panel's "Preview a message" box: a SEND node and a customer id
// in, the subject and body that customer would get now out (renderMessage,
// which changes nothing), or the API's sentence why not.
import { html, useRef, useState } from "./vendor/preact-htm.js";
import { request } from "./api.js";

const RENDER = `query Render($journeyId: ID!, $nodeKey: String!, $customerId: String!) {
  renderMessage(journeyId: $journeyId, nodeKey: $nodeKey, customerId: $customerId) { subject body }
}`;

// Bodies that are HTML, as the email channel tells them (domain/email.py's
// looks_like_html): markup from the first character, or a tag an email has.
const HTML_TAG = /<(?:html|body|p|br|div|table|a)\b/i;
const looksLikeHtml = (body) => body.trimStart().startsWith("<") || HTML_TAG.test(body);

// How a SEND is named in the list: its key and what it says (the subject as
// written), else its template.
const optionText = (node) => `${node.key}: ${node.subject || `template ${node.template ?? "?"}`}`;

// The body is shown as text, in a <pre>, never as HTML: a <pre> of text runs
// no script and loads no remote image (an email's tracking pixel would tell
// its sender a preview was opened), and it is the source the marketer wrote,
// which is what they are checking. A sandboxed iframe would draw the layout,
// but under the page's CSP (default-src 'self') its images would not load
// either, so it would show a broken email rather than the real one.
function Result({ result }) {
  const { subject, body } = result.message;
  const isHtml = looksLikeHtml(body);
  return html`<div class="preview-result" data-preview-result>
    <h4 id="preview-result-title">What “${result.customerId}” would get from “${result.nodeKey}” now</h4>
    <dl class="preview-message" aria-labelledby="preview-result-title">
      <dt>Subject</dt>
      <dd data-preview-subject>${subject || html`<span class="legend">(empty)</span>`}</dd>
      <dt>Body${isHtml ? " (HTML, shown as its source)" : ""}</dt>
      <dd>${body
        ? html`<pre class="preview-body" data-preview-body tabindex="0">${body}</pre>`
        : html`<span class="legend">(empty)</span>`}</dd>
    </dl>
  </div>`;
}

// `nodes`: the journey's flow (Journey.nodes). Nothing is shown without a SEND.
export function MessagePreview({ token, journeyId, nodes }) {
  const sends = nodes.filter((node) => node.type === "SEND");
  const [chosen, setChosen] = useState(null);
  const [customerId, setCustomerId] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null); // { nodeKey, customerId, message } or { error }
  const asked = useRef(0);
  if (sends.length === 0) return null;
  // The flow is re-read as customers move: a key no longer there falls back to the first.
  const nodeKey = sends.some((node) => node.key === chosen) ? chosen : sends[0].key;

  const submit = async (event) => {
    event.preventDefault();
    const wanted = customerId.trim();
    if (!wanted) {
      setResult({ error: "Type a customer id first." });
      return;
    }
    const mine = ++asked.current;
    setBusy(true);
    try {
      const data = await request(token, RENDER, { journeyId, nodeKey, customerId: wanted });
      if (mine === asked.current) setResult({ nodeKey, customerId: wanted, message: data.renderMessage });
    } catch (problem) {
      if (mine === asked.current) setResult({ error: problem.message });
    } finally {
      if (mine === asked.current) setBusy(false);
    }
  };
  const said = !result ? "" : result.error ? "" : `Preview for “${result.customerId}” shown.`;
  return html`<section class="preview" aria-labelledby="preview-title" data-preview>
    <h3 id="preview-title">Preview a message</h3>
    <form class="preview-form" onSubmit=${submit}>
      <div class="field">
        <label for="preview-node">Message</label>
        <select id="preview-node" name="node" value=${nodeKey}
            onChange=${(e) => setChosen(e.currentTarget.value)}>
          ${sends.map((node) => html`<option key=${node.key} value=${node.key}>${optionText(node)}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="preview-customer">Customer id</label>
        <input id="preview-customer" name="customer" type="text" autocomplete="off" spellcheck="false"
          value=${customerId} onInput=${(e) => setCustomerId(e.currentTarget.value)} />
      </div>
      <button type="submit" class="btn primary" disabled=${busy}>Preview</button>
    </form>
    <p class="legend">Rendered from the customer's profile now and the event that last let them in; nothing is sent.</p>
    <p class="sr-only" role="status">${said}</p>
    ${result?.error && html`<p class="problem" role="alert">${result.error}</p>`}
    ${result?.message && html`<${Result} result=${result} />`}
  </section>`;
}
