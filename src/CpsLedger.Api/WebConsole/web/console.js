// The support, audit and finance console: a few views over the ledger's API, routed by the URL's hash. It decides nothing itself:
// every figure comes from the API, and every change is one of the API's commands, refused there if the role is wrong.
import { api, download, session, ApiError } from './api.js';
import { waterfall, lineLabel, lineKind, KIND_WORDS } from './chart.js';

// Reassigned only while a page is drawn aside (drawnAside).
let main = document.getElementById('main');
const who = document.getElementById('who');
const sections = document.getElementById('sections');
const statusBox = document.getElementById('status');

// "Skip to content" links to "#main", which the router would read as an address (the account search, finance's invoices), leaving the
// page the keyboard user was on: it moves the focus to the page's content instead, and leaves the address alone.
document.querySelector('.skip-link')?.addEventListener('click', event => {
  event.preventDefault();
  main.focus();
});

let config = { signIn: 'not-configured', environment: '' };
let me = null;
let tierKind = 'standard';
// True while the page drawn is the one opened from the address: nothing was pressed, so its heading shows no outline (below, show).
let opening = false;

// ---------- small helpers ----------

/** Builds an element; text is always set as text, never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'for') node.htmlFor = value;
    else if (key === 'value') node.value = value;
    else if (key === 'checked') node.checked = !!value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : text(node, String(child)));
  }
  return node;
}

// What is read out or compared character by character, never broken over two lines (at 390 px "2027-11-" stood above "07" in a
// sentence, "S-SECON" above "D"): a date, an amount with its currency, and a code or number joined by hyphens (INV-2026-000001,
// CPS-685-231-086, S-SECOND, R5-0002: an upper-case letter or a digit in it, so "e-mail" and "pro-rated" still break). A longer
// code than 32 characters may break, or a sentence holding it would be wider than a phone.
const WHOLE = /\d{4}-\d{2}-\d{2}|-?\d+\.\d{2} [A-Z]{3}\b|[\p{L}\p{N}]+(?:[-.][\p{L}\p{N}]+)+/gu;
const isWhole = s => /^\d{4}-\d{2}-\d{2}$|\d [A-Z]{3}$/.test(s) || (s.includes('-') && /[A-Z\d]/.test(s) && s.length <= 32);
// Kept as they are: a choice's or a box's text is no place for markup, and a mono or nowrap element is whole already.
const PLAIN = new Set(['OPTION', 'TEXTAREA', 'PRE', 'TITLE', 'STYLE', 'SCRIPT']);

/** A text for `parent`, its dates, amounts and codes each in a span.nowrap (the page's text is unchanged). */
function text(parent, value) {
  if (PLAIN.has(parent.tagName) || parent.classList?.contains('nowrap') || parent.classList?.contains('mono')) {
    return document.createTextNode(value);
  }
  const parts = document.createDocumentFragment();
  let at = 0;
  for (const match of value.matchAll(WHOLE)) {
    if (!isWhole(match[0])) continue;
    if (match.index > at) parts.append(value.slice(at, match.index));
    parts.append(h('span', { class: 'nowrap' }, match[0]));
    at = match.index + match[0].length;
  }
  if (at < value.length) parts.append(value.slice(at));
  return parts;
}

/** A table in a box of its own that scrolls sideways when the table is wider than the page (a phone's), rather than the page. */
const scrolling = table => h('div', { class: 'table-scroll' }, table);

/** Replaces a node's children (null and false children are skipped, as everywhere here). */
function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

function show(...children) {
  fill(main);
  main.classList.remove('wide');
  append(main, children);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    // Chromium counts the focus on a page opened from its address as visible, though nothing was pressed: no outline on that one.
    if (opening) heading.classList.add('opened');
    heading.focus({ preventScroll: true });
  }
}

function say(message, kind = 'info') {
  fill(statusBox, message ? h('p', { class: `notice ${kind}` }, message) : '');
}

const utc = iso => (iso ? `${iso.replace('T', ' ').replace(/\.\d+/, '').replace(/(Z|[+-]00:00)$/, '')} UTC` : '');
const day = iso => (iso ? String(iso).slice(0, 10) : '');
const money = (amount, currency) => `${Number(amount).toFixed(2)} ${currency || ''}`.trim();
const signed = n => (n > 0 ? `+${n}` : n < 0 ? `−${Math.abs(n)}` : '0');
const words = s => String(s ?? '').replace(/_/g, ' ');
const hasRole = role => me?.roles?.includes(role);
const isStaff = () => hasRole('support') || hasRole('auditor');
// Finance's list of invoices across accounts: the API admits finance and auditors (support reads invoices account by account).
const readsInvoiceList = () => hasRole('finance') || hasRole('auditor');
// The account search admits finance too: it finds an account by what a transfer or a caller quotes (an invoice or credit note number,
// a payment reference). Finance's '#/' is its invoice list, so its search has an address of its own.
const searchesAccounts = () => isStaff() || hasRole('finance');
// Whoever holds finance starts on the invoices awaiting payment, support or auditor as well: that queue is the day's work, while a
// caller comes when they ring and is found with the search, a click away ("Accounts"). An account's overview puts the invoices first
// for them too.
const startsOnInvoices = () => hasRole('finance');
const accountSearchHref = () => (startsOnInvoices() ? '#/search' : '#/');

function problemNotice(error) {
  if (error instanceof ApiError) {
    const what = error.status === 403 ? 'Your role does not allow this.'
      : error.status === 404 ? 'Not found.'
      : error.status === 401 ? 'Your sign-in has expired: sign in again.'
      : '';
    // The API's sentence for each refused field is what tells the user what to change; the title alone does not.
    const fieldErrors = Object.entries(error.fieldErrors).map(([field, messages]) =>
      h('li', {}, field === '$' ? 'The request' : h('span', { class: 'mono' }, field), ': ', [messages].flat().join(' ')));
    return h('div', { class: 'notice error', role: 'alert' },
      h('strong', {}, `${error.problem.title || 'Request failed'} (${error.status})`), ' ',
      what, ' ', error.problem.detail || '',
      fieldErrors.length ? h('ul', { class: 'field-errors' }, fieldErrors) : null,
      error.problem.correlationId ? h('div', { class: 'hint' }, `Correlation id: ${error.problem.correlationId}`) : null);
  }
  return h('div', { class: 'notice error', role: 'alert' }, `Something went wrong: ${error.message}`);
}

// ---------- sign-in ----------

async function loadMe() {
  me = null;
  if (config.signIn === 'dev-token' && !session.token) return;
  if (config.signIn === 'not-configured') return;
  try {
    me = await api('/api/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.token = null;
      return;
    }
    throw error;
  }
}

function renderWho() {
  fill(who);
  fill(sections);
  if (!me) return;
  // Operations reads what support and auditors may read (the reconciliation); its dead letters and mail are support's. Invoices is
  // finance's list across accounts, which auditors read too; Accounts is the search, finance's included (results open the overview).
  const hash = window.location.hash;
  const here = hash.startsWith('#/operations') ? 'operations'
    : hash.startsWith('#/invoices') || (!isStaff() && !hash.startsWith('#/accounts/') && !hash.startsWith('#/search'))
      || (startsOnInvoices() && ['', '#', '#/'].includes(hash)) ? 'invoices' : 'accounts';
  const links = [
    searchesAccounts() ? ['accounts', accountSearchHref(), 'Accounts'] : null,
    readsInvoiceList() ? ['invoices', '#/invoices', 'Invoices'] : null,
    isStaff() ? ['operations', '#/operations', 'Operations'] : null,
  ].filter(Boolean);
  if (links.length) {
    fill(sections, h('nav', { 'aria-label': 'Console' }, h('ul', {},
      links.map(([key, href, label]) => h('li', {}, h('a', { href, 'aria-current': here === key ? 'page' : null }, label))))));
  }
  append(who, [
    financeHeaderActions(),
    h('span', {}, 'Signed in as ', h('strong', {}, isolated(me.name))),
    h('span', { class: 'roles', 'aria-label': `Roles: ${me.roles.join(', ')}` }, me.roles.join(', ')),
    h('button', { type: 'button', onclick: signOut }, 'Sign out'),
  ]);
}

async function signOut() {
  session.token = null;
  try {
    await fetch('/console/signout', { method: 'POST', headers: { 'X-CpsLedger-Console': '1' }, credentials: 'same-origin' });
  } catch { /* signed out locally either way */ }
  me = null;
  renderWho();
  window.location.hash = '#/';
  route();
}

function signInView() {
  if (config.signIn === 'openid-connect') {
    return show(h('h1', {}, 'Sign in'),
      h('p', {}, 'Support staff, auditors and finance sign in with their organisation account.'),
      h('p', {}, h('a', { class: 'button', href: '/console/signin' }, 'Sign in with your organisation account')));
  }
  if (config.signIn !== 'dev-token') {
    return show(h('h1', {}, 'Sign-in is not configured'),
      h('p', { class: 'notice warn' }, 'This service has no identity provider for the console. Set Console:Oidc:ClientId (and ',
        'Console:Oidc:Authority or Auth:Authority) to sign staff in with OpenID Connect.'));
  }
  const error = h('div', { 'aria-live': 'assertive' });
  const tokenInput = h('textarea', { id: 'token', name: 'token', rows: 4, required: true, 'aria-describedby': 'token-hint', spellcheck: 'false', autocomplete: 'off' });
  const form = h('form', {
    onsubmit: async event => {
      event.preventDefault();
      fill(error);
      session.token = tokenInput.value.trim();
      try {
        await loadMe();
      } catch (e) {
        fill(error, problemNotice(e));
        return;
      }
      if (!me) {
        fill(error, h('p', { class: 'notice error', role: 'alert' },
          'That token was not accepted: it has expired, or it was signed with another key.'));
        return;
      }
      renderWho();
      route();
    },
  },
  h('label', { for: 'token' }, 'Development token'),
  h('p', { class: 'hint', id: 'token-hint' }, 'Development only. Get one with: ',
    h('code', {}, 'dotnet run -v q --project src/CpsLedger.Api -- token --role support --subject your-name'),
    ' (or --role auditor, or --role finance).'),
  tokenInput,
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Sign in')),
  error);
  return show(h('h1', {}, 'Sign in'), form);
}

// ---------- search ----------

// A value typed by a person (a reason, a person's name) in a <bdi>: in Hebrew or Arabic it reads right to left, its punctuation where
// it belongs, and leaves the words around it where they were.
function isolated(value) {
  return typeof value === 'string' ? h('bdi', {}, value) : value;
}

async function searchView(query) {
  const input = h('input', { type: 'search', id: 'q', name: 'q', value: query || '', required: true, minlength: 2, autocomplete: 'off', 'aria-describedby': 'q-hint' });
  const results = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    role: 'search',
    class: 'search-form',
    onsubmit: event => {
      event.preventDefault();
      window.location.hash = `#/search?q=${encodeURIComponent(input.value.trim())}`;
    },
  },
  h('div', {},
    h('label', { for: 'q' }, 'Find an account'),
    h('p', { class: 'hint', id: 'q-hint' }, 'Company name, contact e-mail, old CPS e-mail, serial number, membership number, invoice or credit note number, or payment reference'),
    input),
  h('button', { type: 'submit' }, 'Search'));
  show(h('h1', {}, 'Accounts'), form, results);
  input.focus();
  if (!query) return;

  fill(results, h('p', {}, 'Searching…'));
  try {
    const found = await api('/api/accounts', { query: { q: query } });
    if (found.items.length === 0) {
      fill(results, h('p', { class: 'notice' }, `No account matches “${found.query}”.`));
      return;
    }
    fill(results,
      scrolling(h('table', {},
        h('caption', {}, `${found.items.length} account${found.items.length === 1 ? '' : 's'} for “${found.query}”`),
        h('thead', {}, h('tr', {}, ['Company', 'Contact e-mail', 'Country', 'Matched on'].map(c => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, found.items.map(item => h('tr', {},
          h('td', {}, h('a', { href: `#/accounts/${item.accountId}` }, item.companyName)),
          h('td', {}, item.contactEmail),
          h('td', {}, item.country),
          // A company name matched is the Company column's own: said once, there (a 200-character name twice made a row twice as tall).
          // Any other value wraps between its words, within one only when a word is wider than the column (mono breaks anywhere).
          h('td', {}, item.matchedOn === 'company_name' ? words(item.matchedOn)
            : [`${words(item.matchedOn)}: `, h('span', { class: 'mono matched' }, item.matchedValue)])))))),
      found.moreThanShown ? h('p', { class: 'notice warn' }, 'More accounts match than are shown: type more of the name.') : null);
  } catch (error) {
    fill(results, problemNotice(error));
  }
}

// ---------- account page ----------

// Finance reads an account's overview only: the API refuses it the history (and so time travel) and the hash chains.
const TABS = [
  { path: '', label: 'Overview' },
  { path: 'history', label: 'History & time travel', roles: ['support', 'auditor'] },
  { path: 'audit', label: 'Audit', roles: ['support', 'auditor'] },
  { path: 'support', label: 'Support actions', roles: ['support'] },
];

function accountFrame(account, tab, ...content) {
  return [
    h('div', { class: 'account-head' },
      h('div', {},
        h('h1', {}, account.companyName),
        h('p', {}, `${account.contactEmail} · ${account.country} · opened ${day(account.openedAt)}`),
        account.oldCpsEmails?.length ? h('p', {}, `Old CPS e-mails: ${account.oldCpsEmails.join(', ')}`) : null),
      h('p', { class: 'mono', title: 'Account id' }, account.id)),
    h('nav', { class: 'tabs', 'aria-label': 'Account' },
      h('ul', {}, TABS.filter(t => !t.roles || t.roles.some(hasRole)).map(t => h('li', {},
        h('a', { href: `#/accounts/${account.id}${t.path ? `/${t.path}` : ''}`, 'aria-current': t.path === tab ? 'page' : null }, t.label))))),
    content,
  ];
}

/** What CPS still owes back, per invoice (received on a cancelled one, or more than its total, less what was refunded), as the summary says. */
const refundsOf = summary => (summary.refundsOwed ?? []).map(r => `${money(r.amount, r.currency)} on ${r.invoiceNumber}`);

// The open invoices behind each amount owed, in the summary's order of currencies, newest first: the summary sums what is outstanding
// on every invoice neither paid nor cancelled (InvoiceQueries.Standing), and support on the phone needs the number the member holds.
function owedInvoices(summary, invoices) {
  if (!invoices) return null;
  const open = invoices.filter(i => i.status !== 'paid' && i.status !== 'cancelled' && i.outstanding > 0);
  const lines = (summary.owed ?? []).flatMap(o => open.filter(i => i.currency === o.currency)).map(i => h('li', {},
    h('span', { class: 'mono nowrap' }, i.invoiceNumber), `: ${money(i.outstanding, i.currency)} outstanding, due `,
    h('span', { class: 'nowrap' }, day(i.dueOn)), i.status === 'overdue' ? ', overdue' : ', not overdue'));
  return lines.length ? h('ul', { class: 'owed-invoices' }, lines) : null;
}

/**
 * The account's cards; `invoices` (the invoice list) names the invoices behind what is owed, where the page has it (time travel has not);
 * `tiers` (eligible-tiers, or time travel's) says why an account without a term is not invited, in the join's own words.
 */
function summaryCards(summary, membership, invoices = null, tiers = null) {
  // A date is one unit: a narrow card would otherwise break it at its hyphens ("2026-12-" / "04").
  const keepDates = v => (typeof v === 'string'
    ? v.split(/(\d{4}-\d{2}-\d{2})/).filter(Boolean).map(part => (/^\d{4}-\d{2}-\d{2}$/.test(part) ? h('span', { class: 'nowrap' }, part) : part))
    : v);
  const card = (term, value, note, testId, wide = false) => h('div', { class: wide ? 'card wide' : 'card', 'data-testid': testId }, h('dt', {}, term),
    h('dd', {}, keepDates(value), note ? h('small', {}, keepDates(note)) : null));
  const invitation = membership?.invitation;
  const term = membership?.membership;
  // With nothing standing, the latest past invitation and term say what the account had: a withdrawn invitation or an ended
  // membership is not "never invited" or "never a member" to a member holding the e-mails that said otherwise.
  const lastInvitation = membership?.pastInvitations?.at(-1);
  const lastTerm = membership?.pastMemberships?.at(-1);
  // "Why was I not invited?": the reason as a join would be refused with it. Not "the points fell": a threshold finance raised withdraws
  // an invitation without a point less.
  const whyNot = tiers?.invitation?.whyNotInvited ?? null;
  const invitationCard = invitation ? [`Invited ${day(invitation.issuedAt)}`, `at ${invitation.points} points`]
    : term ? ['Accepted', lastInvitation ? `invited ${day(lastInvitation.issuedAt)} at ${lastInvitation.points} points` : null]
    : lastInvitation?.withdrawnAt ? [`Withdrawn ${day(lastInvitation.withdrawnAt)}`,
      [`invited ${day(lastInvitation.issuedAt)} at ${lastInvitation.points} points`, whyNot].filter(Boolean).join('. ')]
    : lastInvitation ? ['Accepted', `invited ${day(lastInvitation.issuedAt)} at ${lastInvitation.points} points`]
    : ['Not invited', whyNot];
  const membershipCard = term
    ? [term.tierName, `${term.membershipNumber} · ${words(summary.membershipStatus)} · ${day(term.startsOn)} to ${day(term.endsOn)}`]
    : lastTerm?.endedOn ? [`Ended ${day(lastTerm.endedOn)}`, `${lastTerm.tierName} ${lastTerm.membershipNumber}: ${lastTerm.endedBecause}`]
    : ['Not a member', null];
  // Every number the account has had, the old CPS ones recorded at migration too: a caller may read out any of them, and the
  // search finds the account by each. A number no term of this account was issued with came from an old CPS account.
  const numbers = membership?.membershipNumbers ?? [];
  const issued = new Set([...(membership?.pastMemberships ?? []), term].filter(Boolean).map(t => t.membershipNumber));
  const oldNumbers = numbers.filter(n => !issued.has(n));
  const refunds = refundsOf(summary);
  const owed = summary.owed?.length ? owedInvoices(summary, invoices) : null;
  const tick = summary.allPointsAllocated
    ? h('span', { class: 'tick' }, '✓ All points allocated')
    : summary.products === 0 ? 'No products yet' : h('span', { class: 'cross' }, `✗ ${summary.productsAwaitingDetails} awaiting details`);
  return h('dl', { class: 'cards' },
    card('Points total', String(summary.pointsTotal),
      summary.manualAdjustmentPoints ? `including ${signed(summary.manualAdjustmentPoints)} by manual adjustment` : null, 'points-total'),
    card('Green tick', tick, `${summary.productsWithGreenTick} of ${summary.products} product${summary.products === 1 ? '' : 's'} ticked`, 'green-tick'),
    card('Invitation', ...invitationCard, 'invitation'),
    card('Membership', ...membershipCard, 'membership'),
    // An account that never had a number has no card for it: "None" beside "Not a member" said nothing the membership card had not.
    numbers.length ? card('Membership numbers', numbers.flatMap((n, i) => [i ? ', ' : null, h('span', { class: 'nowrap' }, n)]),
      oldNumbers.length ? `from old CPS: ${oldNumbers.join(', ')}` : null, 'membership-numbers') : null,
    // "Nothing owed" is the member's side only: a refund CPS owes is said beside it, or support would tell a member nothing is due.
    // Amounts in two currencies (a tier table in another currency published while an invoice was open) are said apart, never added.
    // The invoices named under it read on one line each (number, amount, due date, overdue or not): the card takes two columns then.
    card('Owed', summary.owed?.length ? [summary.owed.map(o => money(o.amount, o.currency)).join(' and '), owed] : 'Nothing owed',
      refunds.length ? `refund due: ${refunds.join(', ')}` : null, 'owed', !!owed));
}

// Every invoice with how it stands: a support agent answering "what do I owe, what did you receive, is it cancelled" reads it here.
function invoicesSection(invoices, membership) {
  const standing = i => [
    i.status === 'cancelled' && i.creditNote ? `cancelled by credit note ${i.creditNote.creditNoteNumber}` : words(i.status),
    i.replacedBy ? `replaced by ${i.replacedBy}` : null,
    i.outstanding > 0 && i.status !== 'cancelled' ? `${money(i.outstanding, i.currency)} outstanding` : null,
    i.refundDue > 0 ? `refund due ${money(i.refundDue, i.currency)}` : null,
    i.overpaid > 0 ? `overpaid ${money(i.overpaid, i.currency)}` : null,
    // A refund paid is said beside what is still due, or a refunded invoice would read as settled with nothing said of the money.
    i.refunded > 0 ? `refunded ${money(i.refunded, i.currency)}` : null,
  ].filter(Boolean).join('; ');
  // Each amount received and each card attempt: "did my transfer arrive?" and "why was my card refused?" need more than a total.
  const received = i => [
    // A bank reference is read out to the bank: never broken at its hyphens.
    ...(i.payments ?? []).map(p => [`${money(p.amount, p.currency)} by ${words(p.method)}, value date ${day(p.valueDate)}, `,
      'bank reference ', h('span', { class: 'nowrap' }, p.bankReference), ` (${words(p.kind)})`]),
    ...(i.chargeAttempts ?? []).map(a => `card attempt ${a.attempt}${a.card ? `, ${a.card.brand} ending ${a.card.last4}` : ''}, ` +
      `${utc(a.attemptedAt)}: ${words(a.outcome)}${a.reason ? ` (${a.reason})` : ''}` +
      `${a.nextAttemptOn ? `; next attempt ${day(a.nextAttemptOn)}` : ''}`),
  ];
  // The documents the member received: support reads the same PDF when the member asks about it.
  const documents = i => invoiceLineButtons(i.accountId, i.invoiceNumber, i.creditNote?.creditNoteNumber, i);
  const receivedList = i => {
    const lines = received(i);
    return lines.length ? h('ul', { class: 'hint' }, lines.map(line => h('li', {}, line))) : null;
  };
  return h('section', { 'aria-labelledby': 'invoices-heading', 'data-testid': 'invoices' },
    h('h2', { id: 'invoices-heading' }, 'Invoices'),
    // A member who has just joined asks where the invoice is: it is issued by a scheduled message, Invoicing:IssueDelay later.
    invoices.length === 0 ? h('p', {}, membership?.membership
      ? 'No invoice yet: a new membership\'s invoice is issued a while after joining (2 hours with the default settings), then listed here.'
      : 'No invoices yet.') : scrolling(h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Invoices, newest first'),
      h('thead', {}, h('tr', {}, ['Invoice', 'For', 'Issued', 'Due', 'Total', 'Received', 'Payment', 'Status']
        .map(c => h('th', { scope: 'col', class: ['Total', 'Received'].includes(c) ? 'num' : null }, c)))),
      h('tbody', {}, invoices.map(i => h('tr', {},
        h('td', { class: 'mono nowrap' }, i.invoiceNumber),
        // A date broken at its hyphens ("2026-" / "12-05") is misread: each is kept whole in this narrow column.
        h('td', {}, `${words(i.kind)}, `, h('span', { class: 'nowrap' }, day(i.periodStart)), ' to ', h('span', { class: 'nowrap' }, day(i.periodEnd))),
        h('td', { class: 'nowrap' }, day(i.issuedOn)),
        h('td', { class: 'nowrap' }, day(i.dueOn)),
        h('td', { class: 'num nowrap' }, money(i.total, i.currency)),
        h('td', { class: 'num nowrap' }, money(i.totalReceived, i.currency)),
        h('td', {}, words(i.paymentMethod)),
        h('td', {}, standing(i), receivedList(i), documents(i))))))));
}

/**
 * Buttons that save an invoice's PDF and, where one was issued, its credit note's: the documents the member received, fetched with
 * the console's credentials (a plain link carries none). The account page and finance's list share them.
 */
function invoiceDocuments(accountId, invoiceNumber, creditNoteNumber) {
  const error = h('div', { 'aria-live': 'assertive' });
  return h('div', { class: 'documents' }, documentButtons(accountId, invoiceNumber, creditNoteNumber, error), error);
}

/** The document buttons alone; a failed download is said in `error`. */
function documentButtons(accountId, invoiceNumber, creditNoteNumber, error) {
  const button = (label, name, path) => h('button', {
    type: 'button', class: 'secondary small', 'aria-label': name,
    onclick: async () => {
      fill(error);
      try {
        await download(path);
      } catch (e) {
        fill(error, problemNotice(e));
      }
    },
  }, label);
  return [
    // The accessible name begins with the visible label (WCAG 2.5.3) and says which document.
    button('Invoice PDF', `Invoice PDF, ${invoiceNumber}`, `/api/accounts/${accountId}/invoices/${encodeURIComponent(invoiceNumber)}/pdf`),
    creditNoteNumber ? button('Credit note PDF', `Credit note PDF, ${creditNoteNumber}`,
      `/api/accounts/${accountId}/credit-notes/${encodeURIComponent(creditNoteNumber)}/pdf`) : null,
  ];
}

/**
 * An invoice line's buttons, its documents then finance's actions, in one row that wraps only when the column is too narrow: stacked one
 * under another they made each line four buttons tall, and a laptop screen showed two invoices. In reading order, so the keyboard meets
 * them after the line's company; each name says which invoice or document it acts on.
 */
function invoiceLineButtons(accountId, invoiceNumber, creditNoteNumber, invoice) {
  const error = h('div', { 'aria-live': 'assertive' });
  return h('div', {}, h('div', { class: 'documents' }, documentButtons(accountId, invoiceNumber, creditNoteNumber, error),
    financeInvoiceActions(invoice)), error);
}

// A business account (an agency) has hundreds of products: shown whole, its products, points and explanation ran to thousands of
// pixels and the membership year and invoices sat far below them. A long list shows its first rows and one button for the rest:
// ten rows with the list's heading and button take about one 1366×768 screen (a 320-product account's page is about 3,000 px, its
// invoices under three screens down); a list of up to fifteen shows whole (a button for five more rows costs more than the rows).
// The API returns every list whole, so it is all here, one click away for an auditor who wants the whole list.
const FIRST_ROWS = 10;
const WHOLE_UP_TO = 15;

/**
 * Folds a long list's rows after the first (with `latest`, before the last) and returns the button that shows them (null for a short
 * list): a real button, its aria-expanded saying which is shown. The rows stay in the page, folded, so the button toggles them in place
 * and keeps the focus, and the browser's find reaches them: finding text in a folded row shows the whole list, as the button would.
 */
function shortened(list, rows, noun, onToggle = () => {}, { latest = false } = {}) {
  if (rows.length <= WHOLE_UP_TO) return null;
  list.id ||= `list-${++listIds}`;
  let whole = false;
  const button = h('button', { type: 'button', class: 'secondary small', 'aria-controls': list.id });
  const render = () => {
    rows.forEach((row, i) => fold(row, !whole && (latest ? i < rows.length - FIRST_ROWS : i >= FIRST_ROWS)));
    button.setAttribute('aria-expanded', String(whole));
    button.textContent = whole ? `Show fewer ${noun}` : `Show all ${rows.length} ${noun}`;
    note.textContent = whole ? `All ${rows.length} shown. ` : `${latest ? 'Latest' : 'First'} ${FIRST_ROWS} of ${rows.length} shown. `;
  };
  // beforematch: the browser's find (or a link to a text) is about to reveal a folded row. The whole list is shown, so the button and
  // the chart say what the page shows.
  list.addEventListener('beforematch', () => {
    if (whole) return;
    whole = true;
    render();
    onToggle(whole);
  });
  const note = h('span', {});
  button.addEventListener('click', () => {
    whole = !whole;
    render();
    onToggle(whole);
    // Shown fewer from the end of a long list, the button has moved up the page: bring it back to the screen, where the focus is.
    if (!whole) button.scrollIntoView({ block: 'nearest' });
  });
  render();
  return h('p', { class: 'list-toggle' }, note, button);
}
let listIds = 0;

/**
 * Folds a row away, or back: hidden="until-found", so the browser's find still reaches it and reveals it (Chromium; a browser without
 * it hides the row, as "hidden" did). A table row cannot take it (content-visibility does not apply to a row), so its cells' contents
 * do, the row collapsed to no height (CSS: tr.folded) and out of the accessibility tree, as a hidden row is.
 */
function fold(row, folded) {
  if (row.tagName !== 'TR') {
    if (folded) row.setAttribute('hidden', 'until-found');
    else row.removeAttribute('hidden');
    return;
  }
  if (folded && !row.classList.contains('foldable')) {
    for (const cell of row.cells) cell.replaceChildren(h('div', { class: 'fold' }, [...cell.childNodes]));
    row.classList.add('foldable');
  }
  row.classList.toggle('folded', folded);
  if (folded) row.setAttribute('aria-hidden', 'true');
  else row.removeAttribute('aria-hidden');
  for (const content of row.querySelectorAll(':scope > * > .fold')) {
    if (folded) content.setAttribute('hidden', 'until-found');
    else content.removeAttribute('hidden');
  }
}

// Time travel draws the products as they stood (`caption` "Products then") under its own heading, a level down and with an id of its own.
function productsSection(products, headingLevel = 'h2', caption = 'Products', idSuffix = '') {
  return h('section', { 'aria-labelledby': `products-heading${idSuffix}`, 'data-testid': 'products' },
    h(headingLevel, { id: `products-heading${idSuffix}` }, `${caption} (${productsCount(products)})`),
    productsTable(products));
}

// What a product waiting for details would earn if completed today (its expectedPoints, decided as the explanation's): an expectation, said as one,
// since the catalogue's value in force when the last detail is given decides. Broken only between its two halves: in the narrow
// points column of a phone (390 px) it stood a word a line, "235" alone above "expected".
const expectedSaid = points => [h('span', { class: 'nowrap' }, `${points} expected`), ' ', h('span', { class: 'nowrap' }, 'on completion')];

// Where the expectation comes from, said as a points line says it: a withdrawn model is on none of the catalogue's pages, so its last
// value is not "the catalogue's value now" (the API's expectedFromWithdrawnModel).
const expectedFrom = p => (p.expectedFromWithdrawnModel
  ? `the catalogue has since withdrawn the model, its last value ${p.expectedPoints}` : 'the catalogue\'s value now');

// The summary's cards count the registered products; the table lists the deregistered ones too, so its heading says both.
function productsCount(products) {
  const deregistered = products.filter(p => p.deregistered).length;
  return deregistered ? `${products.length}: ${products.length - deregistered} registered, ${deregistered} deregistered` : String(products.length);
}

function productsTable(products) {
  if (products.length === 0) return h('p', {}, 'No products registered.');
  const rows = products.map(p => h('tr', {},
      h('td', {}, `${p.modelName} `, h('span', { class: 'mono' }, p.modelCode)),
      h('td', { class: 'mono' }, p.serialNumber || '—'),
      h('td', {}, day(p.registeredAt), p.source === 'migration' ? ' (migrated)' : ''),
      h('td', { class: 'num' }, String(p.points),
        p.expectedPoints != null ? [h('br'), h('small', { class: 'expected' }, expectedSaid(p.expectedPoints)),
          p.expectedFromWithdrawnModel ? h('small', { class: 'expected-from' }, expectedFrom(p)) : null] : null),
      h('td', {}, p.greenTick ? h('span', { class: 'tick', 'aria-label': 'yes' }, '✓') : h('span', { class: 'cross', 'aria-label': 'no' }, '✗')),
      // A best guess earns points as an exact detail does (the programme's decision), flagged so that support can say which it was.
      h('td', {}, p.missingDetails.length ? p.missingDetails.map(words).join(', ') : '—',
        p.bestGuesses?.length ? [h('br'), h('small', { class: 'best-guess' }, `best guess: ${p.bestGuesses.map(words).join(', ')}`)] : null),
      // The note given with the deregistration (to whom it was sold): what support is asked when the buyer registers the serial. In a
      // <bdi>, as a reason is, its line breaks kept.
      h('td', {}, p.deregistered ? [`Deregistered ${day(p.deregisteredAt)} (${words(p.deregistrationReason)})`,
        p.deregistrationNote ? [h('br'), h('small', { class: 'multiline deregistration-note' }, 'note: ', h('bdi', {}, p.deregistrationNote))] : null]
        : 'Registered')));
  const body = h('tbody', {}, rows);
  return [scrolling(h('table', {},
    h('caption', { class: 'visually-hidden' }, 'Products'),
    h('thead', {}, h('tr', {}, ['Model', 'Serial number', 'Registered', 'Points', 'Green tick', 'Missing details', 'Status']
      .map(c => h('th', { scope: 'col', class: c === 'Points' ? 'num' : null }, c)))),
    body)), shortened(body, rows, 'products')];
}

// The ledger's own actions name the system as the actor and the person whose request set them off. Each name in a <bdi>, as a reason
// is: one written in Hebrew or Arabic reads in its own direction and leaves " (caused by …)" and " · …" around it where they were.
function actor(by, causedBy) {
  if (!by) return 'system';
  return [isolated(by), causedBy && causedBy.user ? [' (caused by ', isolated(causedBy.user), ')'] : null];
}

// A history entry's sentence quotes the reason its event holds (": …", or "(…)" for a link's verification) and names the ticket
// ("(ticket …)"), and the entry says both again below it, the reason isolated, where every entry's reason and ticket are: the
// sentence stops short of them, so each is read once.
function withoutReasonAndTicket(description, reason, ticket) {
  const cut = (text, forms) => {
    for (const quoted of forms) {
      const at = text.indexOf(quoted);
      if (at >= 0) return text.slice(0, at) + text.slice(at + quoted.length);
    }
    return text;
  };
  const shorter = reason ? cut(description, [`: ${reason}`, ` (${reason})`]) : description;
  return ticket ? cut(shorter, [` (ticket ${ticket})`]) : shorter;
}

// What the catalogue says of the line's model now, where it differs from the value used. A withdrawn model is on none of the
// catalogue's pages: its last value is not what the catalogue "now gives" (the API's words say "has since withdrawn").
function catalogueNow(line) {
  const said = line.modelWithdrawn
    ? `the catalogue has since withdrawn the model${line.catalogueNowGives != null ? `, its last value ${line.catalogueNowGives}` : ''}`
    : line.catalogueNowGives != null ? `the catalogue now gives ${line.catalogueNowGives}` : null;
  return said ? [h('br'), h('small', { class: 'catalogue-now' }, `${said}; points allocated do not change`)] : null;
}

function explanationSection(explanation, headingLevel = 'h2', caption = 'Points explanation') {
  let running = 0;
  const rows = explanation.lines.map((line, i) => {
    running += line.points;
    const kind = lineKind(line);
    return h('tr', { 'data-kind': kind },
      h('td', { class: 'num' }, String(i + 1)),
      h('td', {}, utc(line.at)),
      // A migrated product's line says so where support reads the line out, and from which old CPS account (the API's inWords).
      h('td', {}, lineLabel(line), line.migrated
        ? h('small', { class: 'migrated' }, ` migrated from ${line.migratedFromOldEmail ?? 'an old CPS account'}`) : null),
      // In the programme's words, as the legend says them: the API names the event's type ("PointsAllocated").
      h('td', {}, KIND_WORDS[kind]),
      h('td', { class: `num ${kind}` }, signed(line.points)),
      h('td', { class: 'num' }, String(running)),
      // A later catalogue change said beside the value used ("why 235 when the catalogue says 300?"); the line keeps its points.
      h('td', {}, line.registrationId ? `${line.catalogueValue} (catalogue v${line.catalogueVersion})` : '—', catalogueNow(line)),
      h('td', {}, actor(line.by, line.causedBy)),
      // The reason in a <bdi>: written in Hebrew or Arabic it reads right to left, and leaves " · ticket …" after it where it was.
      h('td', { class: 'multiline' }, line.reason || line.ticketReference
        ? [line.reason ? h('bdi', {}, line.reason) : null, line.reason && line.ticketReference ? ' · ' : null,
          line.ticketReference ? `ticket ${line.ticketReference}` : null]
        : '—'));
  });
  const chart = h('div', { class: 'chart' });
  // The chart draws the lines the table shows, those before them as one bar, and the total: as long as the table, no longer.
  const draw = whole => {
    const shown = whole || explanation.lines.length <= WHOLE_UP_TO ? explanation.lines.length : FIRST_ROWS;
    fill(chart, waterfall(explanation, {
      title: `${caption}: how the total of ${explanation.pointsTotal} is built up`,
      from: explanation.lines.length - shown,
    }));
  };
  draw(false);
  const body = h('tbody', {}, rows);
  const waiting = explanation.awaitingDetails.map(p => h('li', {},
    `${p.modelName} (${p.modelCode})${p.serialNumber ? `, serial ${p.serialNumber}` : ''}: missing ${p.missingDetails.map(words).join(', ')}`,
    p.expectedPoints != null ? `; would earn ${p.expectedPoints} points if completed today (${expectedFrom(p)}: expected, not allocated)` : ''));
  const waitingList = h('ul', {}, waiting);
  const count = explanation.lines.length;
  return h('section', { 'aria-labelledby': 'explanation-heading', 'data-testid': 'explanation' },
    h(headingLevel, { id: 'explanation-heading' }, `${caption}: ${explanation.pointsTotal} points, ${count} ${count === 1 ? 'line' : 'lines'}`),
    h('div', { class: 'legend', 'aria-hidden': 'true' },
      Object.entries(KIND_WORDS).map(([kind, said]) => h('span', { class: `l-${kind}` }, said)), h('span', { class: 'l-total' }, 'total')),
    chart,
    scrolling(h('table', {},
      h('caption', {}, 'Every allocation, removal and manual adjustment, oldest first'),
      h('thead', {}, h('tr', {}, ['#', 'When', 'Product', 'What', 'Points', 'Running total', 'Catalogue value', 'By', 'Reason']
        .map(c => h('th', { scope: 'col', class: ['#', 'Points', 'Running total'].includes(c) ? 'num' : null }, c)))),
      body,
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: 4 }, 'Total'), h('td', { class: 'num' }, String(explanation.pointsTotal)), h('td', { colspan: 4 }))))),
    // Oldest first, so the running total and the chart build up to the total; a long explanation shows its latest lines, what
    // changed recently (what a member calls about), the earlier ones folded above them.
    shortened(body, rows, 'lines', draw, { latest: true }),
    waiting.length
      ? h('div', {}, h('h3', {}, `Waiting for details (no points yet): ${waiting.length} ${waiting.length === 1 ? 'product' : 'products'}`),
        waitingList, shortened(waitingList, waiting, 'products waiting for details'))
      : null);
}

// The membership year: the term in force, where its renewal stands, and every tier and membership the account has had. The
// eligibility the outlook was decided with names the tiers an upgrade could go to (the outlook carries their codes only).
function membershipYearSection(outlook, membership, headingLevel = 'h2', idSuffix = '', eligibility = null) {
  const past = membership?.pastMemberships ?? [];
  const tierName = code => [...(eligibility?.standard ?? []), ...(eligibility?.enterprise ?? [])].find(t => t.code === code)?.name ?? code;
  const history = outlook?.tierHistory ?? membership?.tierHistory ?? [];
  if (!outlook && past.length === 0 && history.length === 0) return null;
  const renewal = !outlook ? null
    : outlook.renewal === 'stopped' ? `Renewal stopped: ends ${day(outlook.endsOn)} unless a renewal tier is chosen again before then`
    : outlook.renewal === 'nothing_eligible' ? `No tier eligible at the offer: ends ${day(outlook.endsOn)} unless points return`
    : !outlook.renewalTier ? `No tier eligible on the points now: ends ${day(outlook.endsOn)} unless points return by the offer on ${day(outlook.renewalOfferOn)}`
    : `Renews after ${day(outlook.endsOn)} as ${outlook.renewalTierName}` +
      (outlook.renewal === 'not_offered_yet' ? `; offer on ${day(outlook.renewalOfferOn)}` : ` (${words(outlook.renewal)})`);
  return h('section', { 'aria-labelledby': `membership-year-heading${idSuffix}`, 'data-testid': 'membership-year' },
    h(headingLevel, { id: `membership-year-heading${idSuffix}` }, 'Membership year'),
    outlook ? h('p', { 'data-testid': 'renewal' },
      `${outlook.tierName} ${outlook.membershipNumber}, ${day(outlook.startsOn)} to ${day(outlook.endsOn)}, ${words(outlook.paymentMethod)}. `, renewal,
      outlook.upgradableTo.length ? `. Upgradable now to: ${outlook.upgradableTo.map(tierName).join(', ')}` : '') : h('p', {}, 'No membership in force.'),
    renewalChoices(outlook?.renewalOptions),
    // On a phone each term is a block of labelled lines (table.stack): as five columns, a long tier name and an upgrade's words
    // stood a word a line. Amounts are never broken.
    history.length ? h('table', { 'data-testid': 'tier-history', class: 'stack' },
      h('caption', {}, 'Tier history'),
      h('thead', {}, h('tr', {}, ['From', 'Tier', 'Annual fee', 'How', 'Membership number'].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, history.map(t => h('tr', {},
        h('td', { 'data-label': 'From' }, h('span', { class: 'nowrap' }, day(t.from))), h('td', { 'data-label': 'Tier' }, t.tierName),
        h('td', { 'data-label': 'Annual fee' }, h('span', { class: 'nowrap' }, money(t.annualFee, t.currency))),
        h('td', { 'data-label': 'How' }, t.upgrade
          ? [`upgraded from ${t.upgrade.fromTierName}: `, h('span', { class: 'nowrap' }, money(t.upgrade.amount, t.currency)),
            ` for ${t.upgrade.daysRemaining} of ${t.upgrade.daysInTerm} days`]
          : words(t.change)),
        h('td', { class: 'mono nowrap', 'data-label': 'Membership number' }, t.membershipNumber))))) : null,
    past.length ? scrolling(h('table', { 'data-testid': 'past-memberships' },
      h('caption', {}, 'Past terms'),
      h('thead', {}, h('tr', {}, ['Membership number', 'Tier', 'Term', 'Ended'].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, past.map(t => h('tr', {},
        h('td', { class: 'mono' }, t.membershipNumber), h('td', {}, t.tierName), h('td', {}, `${day(t.startsOn)} to ${day(t.endsOn)}`),
        h('td', {}, t.endedOn ? `${day(t.endedOn)}: ${t.endedBecause}` : '—')))))) : null);
}

// Once the renewal is offered, the tiers a renewal choice accepts are those of the offer's tier table (a table published since
// applies from the next offer), which may not be the eligible tiers below (the table in force): what support chooses from.
function renewalChoices(options) {
  if (options?.table !== 'offer') return null;
  return scrolling(h('table', { 'data-testid': 'renewal-choices' },
    h('caption', {}, `Renewal choices: the offer’s tier table v${options.tierTableVersion} of ${day(options.tierTablePublishedAt)}`),
    h('thead', {}, h('tr', {}, ['Tier', 'Annual fee', 'Eligible', 'Why not'].map(c => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, [...options.standard, ...options.enterprise].map(t => h('tr', {},
      h('td', {}, t.name),
      h('td', {}, money(t.annualFee, t.currency)),
      h('td', {}, t.eligible ? h('span', { class: 'tick' }, '✓ eligible') : h('span', { class: 'cross' }, '✗ not now')),
      h('td', {}, t.whyNot || '—'))))));
}

function tiersSection(tiers) {
  const table = h('div', { 'aria-live': 'polite' });
  const render = () => {
    const list = tierKind === 'enterprise' ? tiers.enterprise : tiers.standard;
    fill(table, scrolling(h('table', { 'data-testid': 'tiers-table' },
      h('caption', {}, `${tierKind === 'enterprise' ? 'Enterprise' : 'Standard'} tiers (tier table v${tiers.tierTableVersion} in force: joining and upgrades)`),
      h('thead', {}, h('tr', {}, ['Tier', 'Annual fee', tierKind === 'enterprise' ? 'Covers products' : 'Points needed', 'Eligible', 'Why not']
        .map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, list.map(t => h('tr', {},
        h('td', {}, t.name),
        h('td', {}, money(t.annualFee, t.currency)),
        h('td', {}, String(tierKind === 'enterprise' ? t.maxProducts ?? '—' : t.pointsRequired ?? '—')),
        h('td', {}, t.eligible ? h('span', { class: 'tick' }, '✓ eligible') : h('span', { class: 'cross' }, '✗ not yet')),
        h('td', {}, t.whyNot || '—')))))));
  };
  const option = (value, label) => h('label', {},
    h('input', {
      type: 'radio', name: 'tier-kind', value, checked: tierKind === value,
      onchange: () => { tierKind = value; render(); },
    }),
    h('span', {}, label));
  render();
  return h('section', { 'aria-labelledby': 'tiers-heading' },
    h('h2', { id: 'tiers-heading' }, 'Eligible tiers'),
    h('p', {}, `${tiers.points} points, ${tiers.products} ${tiers.products === 1 ? 'product' : 'products'}.`,
      tiers.nextStandardTier
        ? ` ${tiers.pointsToNextStandardTier} more points reach the next standard tier, ${tiers.standard.find(t => t.code === tiers.nextStandardTier)?.name ?? tiers.nextStandardTier}.`
        : ''),
    h('fieldset', { class: 'switch' }, h('legend', {}, 'Tier type'), option('standard', 'Standard'), option('enterprise', 'Enterprise')),
    table);
}

async function loadAccount(id) {
  return api(`/api/accounts/${id}`);
}

async function overviewView(id) {
  const [account, summary, products, explanation, tiers, membership, invoices] = await Promise.all([
    loadAccount(id),
    api(`/api/accounts/${id}/summary`),
    api(`/api/accounts/${id}/products`, { query: { includeDeregistered: true } }),
    api(`/api/accounts/${id}/points-explanation`),
    api(`/api/accounts/${id}/eligible-tiers`),
    api(`/api/accounts/${id}/membership`),
    api(`/api/accounts/${id}/invoices`),
  ]);
  // Finance comes to an account for its invoices: first under the summary, not below the products, points and membership year
  // (a screen and more of scrolling on a laptop). Support and auditors keep the products and points first, what most calls are about.
  // Someone who also holds finance gets finance's order: their actions on this page are on the invoices (support's are on a tab of
  // their own), and the summary cards above still give the points total and the green tick.
  const invoicesFirst = hasRole('finance');
  const invoicesPart = invoicesSection(invoices, membership);
  show(accountFrame(account, '',
    h('h2', { class: 'visually-hidden' }, 'Summary'),
    summaryCards(summary, membership, invoices, tiers),
    invoicesFirst ? invoicesPart : null,
    productsSection(products),
    explanationSection(explanation),
    membershipYearSection(tiers.membership, membership, 'h2', '', tiers),
    invoicesFirst ? null : invoicesPart,
    tiersSection(tiers)));
}

// ---------- history and time travel ----------

function toIso(localValue) {
  // The inputs are read as UTC, as every time on this page is shown.
  const value = localValue?.trim().replace(' ', 'T');
  return value ? `${value}${value.length === 16 ? ':00' : ''}Z` : undefined;
}

/**
 * The end of a moment typed for "up to and including" it or for time travel: its last microsecond. The page shows times to the second
 * and the ledger stores them to the microsecond, so 20:36:20 means the whole second (an event at 20:36:20.4 included), 20:36 the whole
 * minute, and a fraction the whole of its last digit. Sent to the microsecond, which the API takes as it is (it rounds a finer moment to
 * the nearest microsecond, which could reach into the next second).
 */
function toIsoEnd(localValue) {
  const value = localValue?.trim().replace(' ', 'T');
  const typed = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(value ?? '');
  // Anything else is sent as typed, for the API's 400 to say what is wrong with it.
  if (!typed) return toIso(localValue);
  const [, minute, second, fraction] = typed;
  return second === undefined ? `${minute}:59.999999Z` : `${minute}:${second}.${(fraction ?? '').padEnd(6, '9')}Z`;
}

// A time in UTC typed as ISO 8601: a datetime-local input shows the browser's locale (12/04/2026, 08:34 PM), which reads
// as local time and is ambiguous between day and month.
// Fractions of a second are taken too: the API rounds a moment to the microsecond it stores, and an address may hold one.
const utcInput = (id, value, required) => h('input', {
  type: 'text', id, value, required, autocomplete: 'off', spellcheck: 'false',
  pattern: '\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?', placeholder: 'yyyy-mm-ddThh:mm:ss',
  title: 'UTC, as yyyy-mm-ddThh:mm or yyyy-mm-ddThh:mm:ss (a fraction of a second allowed)',
});

async function historyView(id, params) {
  const page = Number(params.get('page') || 1);
  // The end of the range is before a moment (to) or up to and including it (through, the events time travel replays at that moment):
  // one box and a choice, so the form never asks for both (the API's 400). The address is sent as it is.
  const filters = { types: params.get('types') || '', from: params.get('from') || '', until: params.get('through') || params.get('to') || '',
    untilKind: params.has('through') ? 'through' : 'to' };
  const [account, history, everything] = await Promise.all([
    loadAccount(id),
    api(`/api/accounts/${id}/history`, { query: { page, pageSize: 50, types: filters.types, from: toIso(params.get('from')),
      to: toIso(params.get('to')), through: toIsoEnd(params.get('through')) } }),
    api(`/api/accounts/${id}/history`, { query: { pageSize: 500 } }),
  ]);
  const types = [...new Set(everything.items.map(e => e.type))].sort();
  const travel = h('div', { 'aria-live': 'polite', id: 'as-of-result' });
  // A break names its chain by id only: the hash-chain status says what each chain is (the account's own, an old CPS account's by
  // its e-mail and number). Read only when something broke, as it recomputes every chain.
  const chains = history.chainIntact ? null : await chainNames(id);

  const typeSelect = h('select', { id: 'f-type', name: 'types' },
    h('option', { value: '' }, 'All events'),
    types.map(t => h('option', { value: t, selected: t === filters.types ? true : null }, words(t))));
  const fromInput = utcInput('f-from', filters.from);
  const untilInput = utcInput('f-until', filters.until);
  const untilKind = h('select', { id: 'f-until-kind', name: 'until', 'aria-label': 'Until: before the moment, or up to and including it' },
    [['to', 'before'], ['through', 'up to and including']]
      .map(([value, label]) => h('option', { value, selected: value === filters.untilKind ? true : null }, label)));
  const filterForm = h('form', {
    class: 'filters',
    onsubmit: event => {
      event.preventDefault();
      const q = new URLSearchParams();
      if (typeSelect.value) q.set('types', typeSelect.value);
      if (fromInput.value) q.set('from', fromInput.value);
      if (untilInput.value) q.set(untilKind.value === 'through' ? 'through' : 'to', untilInput.value);
      window.location.hash = `#/accounts/${id}/history?${q}`;
    },
  },
  h('div', {}, h('label', { for: 'f-type' }, 'Event type'), typeSelect),
  h('div', {}, h('label', { for: 'f-from' }, 'From (UTC)'), fromInput),
  h('div', {}, h('label', { for: 'f-until' }, 'Until (UTC)'), h('div', { class: 'pair' }, untilKind, untilInput)),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: `#/accounts/${id}/history` }, 'Clear filters')));

  const travelInput = utcInput('as-of', '', true);
  const travelForm = h('form', {
    class: 'filters',
    onsubmit: event => {
      event.preventDefault();
      // The moment as typed names the replay: what is sent is its last microsecond.
      timeTravel(id, travel, { timestamp: toIsoEnd(travelInput.value) }, undefined, chains, travelInput.value.trim().replace('T', ' '));
    },
  },
  h('div', {}, h('label', { for: 'as-of' }, 'Show the account as it stood at (UTC)'), travelInput),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Travel')));

  const pages = Math.max(1, Math.ceil(history.total / history.pageSize));
  const pageLink = (p, label) => h('a', { class: 'button secondary', href: `#/accounts/${id}/history?${withPage(params, p)}` }, label);
  // Each event's button sits on its date line: on a line of its own it made each event a line taller, and an auditor reading a
  // long history saw a few at a time. Its name says which event it replays to (the visible label first, WCAG 2.5.3).
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Events, oldest first' }, history.items.map(e => h('li', { 'data-type': e.type },
    h('div', { class: 'head' }, h('span', { class: 'when' }, utc(e.at)), h('span', { class: 'type' }, words(e.type)),
      e.chainProblem ? h('span', { class: 'cross chain-problem' }, `✗ ${chainProblemWords(e.chainProblem)}`) : null,
      h('button', {
        type: 'button', class: 'secondary small',
        'aria-label': `As of this event (sequence ${e.sequence}, ${words(e.type)}, ${utc(e.at)})`,
        onclick: () => timeTravel(id, travel, { sequence: e.sequence }, e, chains),
      }, 'As of this event')),
    h('p', { class: 'desc multiline' }, withoutReasonAndTicket(e.description, e.reason, e.ticketReference)),
    h('div', { class: 'meta' },
      'by ', actor(e.by, e.causedBy), ` · ${e.stream} stream v${e.version} · sequence ${e.sequence}`,
      e.reason ? h('span', { class: 'multiline' }, ' · reason: ', h('bdi', {}, e.reason)) : '',
      e.ticketReference ? ` · ticket ${e.ticketReference}` : '',
      e.correlationId ? h('span', {}, ' · correlation ', h('span', { class: 'mono' }, e.correlationId)) : ''))));

  show(accountFrame(account, 'history',
    h('h2', {}, 'Time travel'),
    travelForm,
    travel,
    h('h2', {}, `History (${history.total} event${history.total === 1 ? '' : 's'})`),
    // Said on every page, whichever page holds the event: the events below are shown as stored now, which is not what was chained.
    history.chainIntact ? null : h('p', { class: 'notice error', 'data-testid': 'history-chain' },
      h('span', { class: 'cross' }, '✗ '),
      brokenChains(history.chainBreaks).map(([first, ...more]) =>
        `${capitalised(brokenChainName(id, first, chains))} is broken: ${[first, ...more].map(breakWords).join(', ')}. `).join(''),
      'The events are shown as they are stored now; the Audit tab verifies every chain.'),
    filterForm,
    history.items.length ? timeline : h('p', { class: 'notice' }, 'No events match these filters.'),
    pages > 1 ? h('nav', { class: 'actions', 'aria-label': 'History pages' },
      page > 1 ? pageLink(page - 1, 'Previous page') : null,
      h('span', {}, `Page ${page} of ${pages}`),
      page < pages ? pageLink(page + 1, 'Next page') : null) : null));
}

/** What a history entry's chainProblem means, in an auditor's words. */
function chainProblemWords(problem) {
  return {
    edited: 'edited after it was chained', reordered: 'not at its chained sequence', removed: 'removed after it was chained',
    hash_altered: 'as chained, but its link\'s stored hash was altered',
  }[problem]
    ?? problem;
}

/** Every link not as chained (the API names each, a chain's in link order), grouped by chain: one array a broken chain. */
function brokenChains(breaks) {
  const byChain = new Map();
  for (const b of breaks) byChain.set(b.chainId, [...(byChain.get(b.chainId) ?? []), b]);
  return [...byChain.values()];
}

/** The links of a chain not as chained after its first, which its row names. */
function moreBreaks(breaks, c) {
  const more = breaks.filter(b => b.chainId === c.chainId).length - 1;
  return more > 0 ? ` and ${count(more, 'more link')}` : '';
}

/** Where a chain broke: a link not as chained, by the event's sequence (a link whose event is gone has none). */
function breakWords(b) {
  // hash_altered read as words.
  return `${b.problem.replaceAll('_', ' ')} at ${b.sequence != null ? `sequence ${b.sequence}` : `link ${b.position}`}${b.type ? ` (${b.type}, recorded ${utc(b.recordedAt)})` : ''}`;
}

/** A hash-chain status's chains (and those with no link left) by id: what names a break's chain. */
function chainsById(status) {
  return new Map([...status.chains, ...(status.unlinked ?? [])].map(c => [c.chainId, c]));
}

/** The account's chains by id (chainsById); null when the status cannot be read, so the ids are said instead. */
async function chainNames(id) {
  try {
    return chainsById(await api(`/api/accounts/${id}/hash-chain`));
  } catch {
    return null;
  }
}

/** A broken chain named for an auditor: the account's own, or, as the hash-chain status labels it, an old CPS account's by its e-mail. */
function brokenChainName(accountId, b, chains) {
  const named = chains?.get(b.chainId);
  if (named?.kind === 'account' || b.chainId === accountId) return 'the account\'s own hash chain';
  return named ? `the hash chain ${chainWords(named)}` : `the hash chain ${b.chainId}`;
}

const capitalised = s => s.charAt(0).toUpperCase() + s.slice(1);

function withPage(params, page) {
  const q = new URLSearchParams(params);
  q.set('page', String(page));
  return q.toString();
}

/**
 * Replays the account up to a moment or up to an event of the timeline (`event`: the one its button was pressed on; `typed`: the moment
 * as typed, which names the replay).
 */
async function timeTravel(id, target, cut, event, chains, typed) {
  fill(target, h('p', {}, 'Replaying the events…'));
  try {
    const asOf = await api(`/api/accounts/${id}/as-of`, { query: cut });
    // A sequence number alone does not tell an auditor which moment this is: the event's time and type are said with it.
    const when = cut.timestamp ? `${typed} UTC`
      : event ? `${utc(event.at)}, after ${words(event.type)} (sequence ${cut.sequence})` : `event ${cut.sequence}`;
    const heading = h('h3', { tabindex: '-1', class: 'replay-heading' }, `The account as of ${when}`);
    fill(target, h('div', { class: 'as-of', 'data-testid': 'as-of' },
      heading,
      h('p', {}, `Replayed from the events up to sequence ${asOf.lastSequenceIncluded}; anything later does not exist yet in this view.`),
      // What was folded is what is stored now: an event edited since it was chained changes the state above.
      asOf.chainIntact ? null : h('p', { class: 'notice error', 'data-testid': 'as-of-chain' }, h('span', { class: 'cross' }, '✗ '),
        `Replayed from events not as they were chained: ${asOf.chainBreaks.map(b => `${brokenChainName(id, b, chains)}, ${breakWords(b)}`)
          .join('; ')}. The Audit tab verifies every chain.`),
      summaryCards(asOf.summary, asOf.membership, null, asOf.eligibleTiers),
      // Each product as it stood: waiting for a detail then, though completed since; registered then, though deregistered since.
      productsSection(asOf.products, 'h4', 'Products then', '-as-of'),
      explanationSection(asOf.explanation, 'h4', 'Points explanation then'),
      membershipYearSection(asOf.explanation.membership, asOf.membership, 'h4', '-as-of', asOf.eligibleTiers),
      asOf.eligibleTiers ? h('p', {}, 'Eligible standard tiers then: ',
        asOf.eligibleTiers.standard.filter(t => t.eligible).map(t => t.name).join(', ') || 'none') : null,
      h('button', { type: 'button', class: 'secondary', onclick: () => fill(target) }, 'Back to now')));
    // The replay is drawn above the timeline: pressed far down it, the answer would be out of sight.
    heading.focus();
  } catch (error) {
    fill(target, problemNotice(error));
  }
}

// ---------- audit ----------

async function auditView(id) {
  const [account, chain] = await Promise.all([loadAccount(id), api(`/api/accounts/${id}/hash-chain`)]);
  const chains = chainsById(chain);
  const verification = h('div', { 'aria-live': 'polite', 'data-testid': 'verification' });
  show(accountFrame(account, 'audit',
    h('section', { class: 'panel', 'aria-labelledby': 'chain-heading', 'data-testid': 'hash-chain' },
      h('h2', { id: 'chain-heading' }, 'Hash chain'),
      h('p', {}, chain.intact
        ? h('span', { class: 'tick' }, '✓ Intact: every stored event still hashes to its link.')
        : h('span', { class: 'cross' }, `✗ Broken: ${count(brokenChains(chain.breaks).length, 'chain')} no longer ${brokenChains(chain.breaks).length === 1 ? 'matches' : 'match'} the stored events.`),
      ` Checked ${utc(chain.checkedAt)}.`),
      scrolling(h('table', {},
        h('caption', {}, 'Chains the verification checks: the account\'s, its streams\', the old CPS accounts\' it migrates from'),
        h('thead', {}, h('tr', {}, ['Chain', 'Links', 'Head sequence', 'Head hash (SHA-256)', 'Status'].map(c => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, chain.chains.map(c => h('tr', { 'data-kind': c.kind },
          h('td', {}, chainName(c)),
          h('td', { class: 'num' }, String(c.links)),
          h('td', { class: 'num' }, String(c.headSequence)),
          h('td', { class: 'mono breakable' }, c.headHash),
          h('td', {}, c.intact ? h('span', { class: 'tick' }, '✓ intact')
            // Named as the history names it, by the event's sequence and type: a link's position is shown nowhere else.
            : h('span', { class: 'cross' }, `✗ ${breakWords(c.break)}${moreBreaks(chain.breaks, c)}`))))))),
      // A chain with no link left has no row above: the status names it all the same.
      chain.breaks.filter(b => !chain.chains.some(c => c.chainId === b.chainId))
        .map(b => h('p', { class: 'notice error' }, `${brokenChainLabel(b, chains)}: event ${b.eventId} ${b.problem}.`))),
    h('section', { class: 'panel', 'aria-labelledby': 'verify-heading' },
      h('h2', { id: 'verify-heading' }, 'Verification'),
      h('p', {}, 'Replays every event of the account and compares the result with each stored projection (summary documents, ',
        'products, serial claims, membership, the old CPS accounts it migrates from), field by field, each column copied out of its ',
        'documents with the document, each running total its payment events record with the sum of the amounts, and each invoice and ',
        'credit note number\'s claim with the event that issued the number; and recomputes its hash chains.'),
      h('div', { class: 'actions' }, h('button', {
        type: 'button',
        onclick: async event => {
          const button = event.currentTarget;
          button.disabled = true;
          fill(verification, h('p', {}, 'Verifying…'));
          try {
            renderVerification(verification, await api('/api/audit/verification', { query: { accountId: id } }), chains);
          } catch (error) {
            fill(verification, problemNotice(error));
          } finally {
            button.disabled = false;
          }
        },
      }, 'Run verification')),
      verification)));
}

// A chain's name in words, its id beneath: an auditor cannot tell what a bare id links. An invoice's chain holds its card charge
// attempts (they name no account, so they are chained on the invoice's stream): the server labels it with the invoice's number.
function chainName(c) {
  if (c.kind === 'account') return 'The account';
  if (c.kind === 'invoice' && c.label) return [`Card charges of invoice ${c.label}`, h('div', { class: 'mono' }, c.chainId)];
  const kinds = {
    registration: 'Product registration', membership: 'Membership', invoice: 'Invoice', payment_card: 'Payment card',
    old_cps_account: 'Old CPS account',
  };
  return [`${kinds[c.kind] ?? c.kind} `, c.label ? h('strong', {}, c.label) : null, c.label ? ' ' : null,
    h('div', { class: 'mono' }, c.chainId)];
}

// The same name as one line of text, for a notice: "of card charges of invoice INV-…", "of the account", "of old CPS account …".
function chainWords(c) {
  if (c.kind === 'account') return 'of the account';
  if (c.kind === 'invoice' && c.label) return `of card charges of invoice ${c.label}`;
  const kinds = {
    registration: 'product registration', membership: 'membership', invoice: 'invoice', payment_card: 'payment card',
    old_cps_account: 'old CPS account',
  };
  return `of ${kinds[c.kind] ?? c.kind}${c.label ? ` ${c.label}` : ''}`;
}

// A break's chain as the hash-chain status names it (chainsById), its id beside; the id alone where the status does not list it.
function brokenChainLabel(b, chains) {
  const named = chains.get(b.chainId);
  return named ? `Chain ${chainWords(named)} (${b.chainId})` : `Chain ${b.chainId}`;
}

/**
 * What a verification difference compared, by its field (the API's ProjectionDifference): a column copied out of a document with the
 * document ("(column) total"), a payment event's running total with the sum of the amounts ("(event 3) payment_received.TotalReceived"),
 * an invoice or credit note number's claim with the event that issued the number ("(claim)", "(claim) AccountId"), or a stored
 * projection with its replay. Each kind is a table of its own, headed by what its two values are: until 2026-12-07 every row was
 * headed "Stored / Replayed", a column's value and its document's too.
 */
const differenceKinds = [
  { caption: 'Stored projection against replay', field: 'Field', stored: 'Stored', replayed: 'Replayed', label: f => f },
  { prefix: '(column)', caption: 'Copied column against its document', field: 'Column', stored: 'Column value',
    replayed: 'Document value', label: f => f.replace(/^\(column\) /, '') },
  { prefix: '(event ', caption: 'Running total in a payment event against the sum of the amounts', field: 'Event',
    stored: "Event's total", replayed: 'Sum of amounts', label: f => f },
  { prefix: '(claim)', caption: "Number's claim against the event that issued the number", field: 'Claim field', stored: 'Claim',
    replayed: 'Issuing event', label: f => f.replace(/^\(claim\) /, '') },
];

function differenceKind(d) {
  return differenceKinds.find(k => k.prefix && d.field.startsWith(k.prefix)) ?? differenceKinds[0];
}

function differenceTable(kind, differences) {
  return differences.length ? scrolling(h('table', {},
    h('caption', {}, kind.caption),
    h('thead', {}, h('tr', {}, ['Document', 'Id', kind.field, kind.stored, kind.replayed].map(c => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, differences.map(d => h('tr', {},
      h('td', {}, d.document), h('td', { class: 'mono' }, d.id), h('td', { class: 'mono' }, kind.label(d.field)),
      h('td', { class: 'mono breakable' }, d.stored ?? absent()), h('td', { class: 'mono breakable' }, d.replayed ?? absent())))))) : null;
}

// A value missing on one side, whole: in a narrow breakable column "(none)" broke as "(non" / "e)".
const absent = () => h('span', { class: 'nowrap' }, '(none)');

function renderVerification(target, report, chains) {
  const agrees = report.differences.length === 0 && report.chainBreaks.length === 0;
  fill(target,
    h('p', { class: `notice ${agrees ? 'ok' : 'error'}` },
      agrees ? `✓ Verified ${utc(report.checkedAt)}: ${count(report.documentsChecked, 'stored document')} ${report.documentsChecked === 1 ? 'equals' : 'equal'} a replay of the events, and the hash chains are intact.`
        : `✗ ${count(report.differences.length, 'difference')} and ${count(report.chainBreaks.length, 'chain break')} found (${utc(report.checkedAt)}).`),
    ...differenceKinds.map(kind => differenceTable(kind, report.differences.filter(d => differenceKind(d) === kind))),
    report.chainBreaks.length ? h('ul', {}, report.chainBreaks.map(b => h('li', {},
      `${brokenChainLabel(b, chains)}: ${b.problem} at link ${b.position} (${b.type ? `${b.type} recorded ${utc(b.recordedAt)}, ` : ''}event ${b.eventId ?? '?'}, sequence ${b.sequence ?? '?'})`)))
      : null);
}

// ---------- support actions ----------

/**
 * A 400's field errors beside their fields, in a form whose inputs are `${id}-${name}` (the support actions' and finance's): the
 * field marked invalid and the API's sentence under it. The API names a field in its own letter case, the form in its.
 */
function markFieldErrors(e, id, fields, inputs) {
  if (!(e instanceof ApiError) || e.status !== 400) return;
  for (const [field, messages] of Object.entries(e.fieldErrors)) {
    const name = fields.find(f => f.name.toLowerCase() === field.toLowerCase())?.name;
    if (!name) continue;
    inputs[name].setAttribute('aria-invalid', 'true');
    fill(document.getElementById(`${id}-${name}-error`), [messages].flat().join(' '));
  }
}

/**
 * The notice of a form's refusal. A 400 whose every field error is shown beside its field (markFieldErrors) names the fields once and
 * leaves each sentence at its field: repeated in the notice it doubled the notice's height, and in a dialog on a laptop screen ran out
 * of view. Any other refusal is the API's problem as {@link problemNotice} shows it.
 */
function formRefusal(e, fields) {
  if (!(e instanceof ApiError) || e.status !== 400) return problemNotice(e);
  const labels = Object.keys(e.fieldErrors).map(field => fields.find(f => f.name.toLowerCase() === field.toLowerCase())?.label);
  if (labels.length === 0 || labels.some(l => !l)) return problemNotice(e);
  const named = labels.length === 1 ? labels[0] : `${labels.slice(0, -1).join(', ')} and ${labels.at(-1)}`;
  return h('div', { class: 'notice error', role: 'alert' },
    h('strong', {}, `Not accepted (400): ${named}.`), ' ', labels.length === 1 ? 'Why is said beside the field.' : 'Why is said beside each field.',
    e.problem.correlationId ? h('div', { class: 'hint' }, `Correlation id: ${e.problem.correlationId}`) : null);
}

/**
 * After a refused request the button pressed may be gone (hidden or replaced): the first field the API refused takes the focus, else
 * the refusal's notice, so the keyboard is not left on the page's body.
 */
function focusRefusal(inputs, error) {
  const field = Object.values(inputs).find(i => i.getAttribute('aria-invalid') === 'true');
  if (field) return field.focus();
  const notice = error.querySelector('.notice');
  notice?.setAttribute('tabindex', '-1');
  notice?.focus();
}

/** Undoes {@link markFieldErrors}: every field valid again, its sentence gone. */
function clearFieldErrors(id, fields, inputs) {
  for (const f of fields) {
    inputs[f.name].removeAttribute('aria-invalid');
    fill(document.getElementById(`${id}-${f.name}-error`));
  }
}

/**
 * A support action in two steps: the form, then a preview of exactly what will be written (event, values, reason, who),
 * and only then the write. Field errors from the API go back next to their fields.
 */
function supportAction({ id, title, intro, status, fields, describe, send, disabledReason }) {
  // Nothing can be done (no invitation to resend): the reason, and no box inviting a reason that no button would send.
  if (disabledReason) {
    // What the action would do is no matter when it cannot be done: the notice alone says what there is to know.
    return h('section', { class: 'panel', 'aria-labelledby': `${id}-heading`, 'data-testid': id },
      h('h2', { id: `${id}-heading` }, title), h('p', { class: 'notice warn' }, disabledReason));
  }
  const error = h('div', { 'aria-live': 'assertive' });
  const preview = h('div', { 'aria-live': 'polite' });
  const inputs = {};
  const controls = fields.map(f => {
    const inputId = `${id}-${f.name}`;
    const input = f.multiline
      ? h('textarea', { id: inputId, name: f.name, required: true, rows: 3, 'aria-describedby': `${inputId}-hint ${inputId}-error` })
      : h('input', { id: inputId, name: f.name, type: f.type || 'text', required: true, step: f.type === 'number' ? 1 : null, 'aria-describedby': `${inputId}-hint ${inputId}-error` });
    inputs[f.name] = input;
    return h('div', {},
      h('label', { for: inputId }, f.label),
      h('p', { class: 'hint', id: `${inputId}-hint` }, f.hint || ''),
      input,
      h('p', { class: 'field-error', id: `${inputId}-error` }));
  });
  const values = () => Object.fromEntries(fields.map(f => [f.name, f.type === 'number' ? Number(inputs[f.name].value) : inputs[f.name].value.trim()]));
  const setEditable = editable => Object.values(inputs).forEach(i => { i.readOnly = !editable; });
  const clearErrors = () => {
    fill(error);
    clearFieldErrors(id, fields, inputs);
  };

  const form = h('form', {
    'data-testid': id,
    onsubmit: event => {
      event.preventDefault();
      clearErrors();
      const v = values();
      // Made once per review: pressing "Write it" twice writes once.
      const key = crypto.randomUUID();
      setEditable(false);
      reviewButton.hidden = true;
      fill(preview, h('div', { class: 'preview', role: 'region', 'aria-label': 'What will be written' },
        h('h4', {}, 'This will be written to the ledger'),
        h('dl', {}, describe(v).flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, isolated(value))]),
          h('dt', {}, 'Recorded as'), h('dd', {}, isolated(me.name), ", with the reason in the event's metadata")),
        h('p', {}, 'Events are never changed afterwards: a mistake is corrected by a new action.'),
        h('div', { class: 'actions' },
          h('button', {
            type: 'button',
            onclick: async event => {
              const button = event.currentTarget;
              button.disabled = true;
              try {
                const written = await send(v, key);
                fill(preview, h('p', { class: 'notice ok', role: 'status' }, written));
                Object.values(inputs).forEach(i => { i.value = ''; });
                setEditable(true);
                reviewButton.hidden = false;
                say(written, 'ok');
                // "Write it" went with the review: without this the focus fell to the page's body. The action's first field, ready
                // for the next; what was written is announced by its status.
                inputs[fields[0].name].focus();
              } catch (e) {
                button.disabled = false;
                setEditable(true);
                reviewButton.hidden = false;
                fill(preview);
                markFieldErrors(e, id, fields, inputs);
                fill(error, formRefusal(e, fields));
                focusRefusal(inputs, error);
              }
            },
          }, 'Write it'),
          h('button', {
            type: 'button', class: 'secondary',
            onclick: () => { fill(preview); setEditable(true); reviewButton.hidden = false; inputs[fields[0].name].focus(); },
          }, 'Change'))));
      preview.querySelector('button')?.focus();
    },
  });
  const reviewButton = h('button', { type: 'submit' }, 'Review');
  append(form, [controls, h('div', { class: 'actions' }, reviewButton)]);
  return h('section', { class: 'panel', 'aria-labelledby': `${id}-heading` },
    h('h2', { id: `${id}-heading` }, title), h('p', {}, intro), status, form, preview, error);
}

// An old CPS e-mail as the ledger compares and stores it.
const recordedEmail = email => email.trim().toLowerCase();

// How an account proved an old CPS e-mail, as the migration status names it.
const provedBy = {
  code: 'by the code sent to it',
  support_link: 'linked by support',
  migrated_before_verification: 'migrated before verification existed',
};

// Whether an old CPS e-mail the account lists is proved, as the migration status says: what support checks before linking one.
const proofOf = e => (e.state === 'verified' ? `proved (${provedBy[e.verifiedBy] ?? words(e.verifiedBy)})`
  : e.state === 'code_sent' ? `not proved yet: a code was sent to it, valid until ${utc(e.codeExpiresAt)}`
  : e.state === 'verified_by_another_account' ? 'proved by another account'
  : 'not proved yet');

async function supportView(id) {
  const account = await loadAccount(id);
  if (!hasRole('support')) {
    return show(accountFrame(account, 'support', h('p', { class: 'notice warn' }, 'Only support staff can change an account.')));
  }
  const [summary, membership, migration] = await Promise.all([api(`/api/accounts/${id}/summary`), api(`/api/accounts/${id}/membership`),
    api(`/api/accounts/${id}/migration`)]);
  const oldEmails = h('p', { 'data-testid': 'link-email-status' });
  const showOldEmails = status => fill(oldEmails, status.oldEmailVerifications.length
    ? `Old CPS e-mails on this account: ${status.oldEmailVerifications.map(e => `${e.email}: ${proofOf(e)}`).join('; ')}.`
    : 'No old CPS e-mail is on this account yet.');
  showOldEmails(migration);
  // A stream id is for the record, not read out: it wraps inside a preview narrowed by the actions beside it.
  const stream = h('span', { class: 'mono breakable' }, id);
  let pointsTotal = summary.pointsTotal; // null once a re-read after a write has failed: no preview then names a total
  const totalText = h('span', { 'data-testid': 'current-total' }, String(pointsTotal));
  // An adjustment changes the total: it is read again, so the next preview starts from the account as it now stands.
  const reloadTotal = async () => {
    try {
      pointsTotal = (await api(`/api/accounts/${id}/summary`)).pointsTotal;
      fill(totalText, String(pointsTotal));
    } catch {
      pointsTotal = null;
      fill(totalText, 'not known (it could not be read again after the last write: reload the page)');
    }
  };
  show(accountFrame(account, 'support',
    h('p', {}, 'Current points total: ', totalText, '. Each action asks for a reason, which auditors see in the history.'),
    h('div', { class: 'grid-2' },
      supportAction({
        id: 'adjust',
        title: 'Adjust points',
        intro: 'Adds or takes away points by hand, e.g. for a registration lost in an outage. It shows as its own line in the explanation.',
        fields: [
          { name: 'points', label: 'Points', type: 'number', hint: 'Positive to add, negative to take away.' },
          { name: 'reason', label: 'Reason', multiline: true, hint: 'Why, in words an auditor understands later (at least 5 characters).' },
          { name: 'ticketReference', label: 'Ticket reference', hint: 'The support ticket this answers, e.g. CPS-SUP-1234.' },
        ],
        describe: v => [
          ['Event', 'PointsAdjusted (manual adjustment)'],
          ['On', h('span', {}, 'the account stream ', stream)],
          ['Points', pointsTotal === null ? `${signed(v.points)} (the current total is not known: reload the page to see the new one)`
            : `${signed(v.points)}: the total goes from ${pointsTotal} to ${pointsTotal + v.points}`],
          ['Reason', v.reason],
          ['Ticket', v.ticketReference],
        ],
        send: async (v, key) => {
          const adjusted = await api(`/api/accounts/${id}/points-adjustments`, { method: 'POST', body: v, idempotencyKey: key });
          await reloadTotal();
          return `Written: manual adjustment of ${signed(adjusted.points)} points (ticket ${adjusted.ticketReference}). The explanation now shows it.`;
        },
      }),
      supportAction({
        id: 'link-email',
        title: 'Link an old CPS e-mail',
        intro: 'Counts as proof that this account owns the old CPS e-mail, so its products can be migrated. Check ownership first ' +
          '(the member can also prove it with the code the ledger sends to that address).',
        status: oldEmails,
        fields: [
          { name: 'email', label: 'Old CPS e-mail', type: 'email', hint: 'The e-mail the old CPS account used.' },
          { name: 'reason', label: 'Reason', multiline: true, hint: 'How you checked the account owns it (at least 5 characters).' },
          { name: 'ticketReference', label: 'Ticket reference', hint: 'The support ticket this answers, e.g. CPS-SUP-1234.' },
        ],
        // The e-mail as the ledger records it (trimmed, lower case), so the preview and the answer show what is written.
        describe: v => [
          ['Events', 'OldCpsEmailLinked, then OldCpsEmailVerified (by support link)'],
          ['On', h('span', {}, 'the account stream ', stream)],
          ['E-mail', recordedEmail(v.email)],
          ['Reason', v.reason],
          ['Ticket', v.ticketReference],
        ],
        send: async (v, key) => {
          // Linking an e-mail the account has already proved writes nothing (the API answers 200 all the same): say so, instead of
          // telling support that a link and its reason are on record when the history has neither.
          const email = recordedEmail(v.email);
          const standing = (await api(`/api/accounts/${id}/migration`)).oldEmailVerifications.find(e => e.email === email);
          if (standing?.state === 'verified') {
            return `Nothing written: ${email} was already verified on this account (${provedBy[standing.verifiedBy] ?? standing.verifiedBy}).`;
          }
          await api(`/api/accounts/${id}/old-cps-emails`, { method: 'POST', body: v, idempotencyKey: key });
          try {
            showOldEmails(await api(`/api/accounts/${id}/migration`));
          } catch {
            fill(oldEmails, 'The old CPS e-mails could not be read again after the link: reload the page to see them.');
          }
          return `Written: ${email} linked to this account and verified.`;
        },
      }),
      supportAction({
        id: 'resend',
        title: 'Resend the invitation e-mail',
        intro: `Sends the standing invitation to join CPS again, to ${account.contactEmail}.`,
        fields: [
          { name: 'reason', label: 'Reason', multiline: true, hint: 'E.g. the member says the first e-mail never arrived; at least 5 characters.' },
          { name: 'ticketReference', label: 'Ticket reference', hint: 'The support ticket this answers, e.g. CPS-SUP-77.' },
        ],
        disabledReason: membership.invitation ? null : 'This account has no standing invitation, so there is nothing to resend.',
        describe: v => [
          ['Event', 'InvitationEmailResent, then the e-mail is sent'],
          ['On', 'the account\'s membership stream'],
          ['To', account.contactEmail],
          ['Reason', v.reason],
          ['Ticket', v.ticketReference],
        ],
        send: async (v, key) => {
          await api(`/api/accounts/${id}/invitation/resend`, { method: 'POST', body: v, idempotencyKey: key });
          return `Written: the invitation e-mail goes out again to ${account.contactEmail}.`;
        },
      }))));
}

// ---------- operations ----------

// What each reconciliation check promises, in words (docs/reliability.md, "The reconciliation job"); its id stays beside it.
const PROMISES = {
  'account-invited': 'An account at the invitation threshold is invited',
  'invitation-withdrawn': 'An invitation below the threshold is withdrawn',
  'invitation-email-sent': 'An invitation’s e-mail is sent',
  'invitation-withdrawn-email-sent': 'A withdrawn invitation’s e-mail is sent',
  'membership-invoiced': 'A membership is invoiced',
  'welcome-email-sent': 'A welcome e-mail is sent',
  'renewed-email-sent': 'A renewal’s e-mail is sent',
  'invoice-email-sent': 'An invoice’s e-mail is sent',
  'credit-note-email-sent': 'A credit note’s e-mail is sent',
  'invoice-overdue-checked': 'A bank-transfer invoice past its due date is checked for being overdue',
  'overdue-email-sent': 'An overdue reminder is sent',
  'membership-suspended': 'A membership overdue past its grace period is suspended',
  'suspension-email-sent': 'A suspension e-mail is sent',
  'suspension-lifted': 'A suspension on a settled invoice is lifted',
  'reinstatement-email-sent': 'A reinstatement e-mail is sent',
  'card-invoice-charged': 'A card invoice is charged when due',
  'card-declined-email-sent': 'A declined card charge’s e-mail is sent',
  'renewal-offered': 'A membership in its offer window is offered renewal',
  'renewal-offer-scheduled': 'A renewal offer is scheduled',
  'renewal-offer-email-sent': 'A renewal offer’s e-mail is sent',
  'renewal-invoiced': 'A bank-transfer renewal is invoiced',
  'term-ended': 'A term past its end is ended',
};

const count = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const shortType = type => String(type ?? '').split('.').at(-1);
// A .NET type name breaks after its dots, never inside "SendInvoiceEmail" (read out on the phone, it must stay whole).
const dotted = name => h('span', { class: 'mono dotted' }, String(name ?? '').split('.').flatMap((part, i) => (i ? ['.', h('wbr'), part] : [part])));
const seconds = s => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

async function operationsView() {
  const support = hasRole('support');
  const reconciliation = h('section', { class: 'panel', 'aria-labelledby': 'reconciliation-heading', 'data-testid': 'reconciliation' });
  const parts = [h('h1', {}, 'Operations'),
    h('p', {}, 'What the service could not do by itself, and what its safety net found. The same as the API under /api/operations and ',
      'the checks in /health/ready.')];
  if (support) {
    const letters = h('section', { class: 'panel', 'aria-labelledby': 'dead-letters-heading', 'data-testid': 'dead-letters' });
    const mail = h('section', { class: 'panel', 'aria-labelledby': 'mail-heading', 'data-testid': 'mail' });
    show(parts, letters, reconciliation, mail);
    await Promise.all([deadLettersPanel(letters), reconciliationPanel(reconciliation, true), mailPanel(mail)]);
  } else {
    show(parts, h('p', { class: 'notice' }, `Dead letters and waiting e-mail are for support staff: as ${me.roles.join(', ')} you read the `,
      'reconciliation only.'), reconciliation);
    await reconciliationPanel(reconciliation, false);
  }
}

/** Dead letters: a page (50, the API's default), newest first, a filter by message type, the message on demand; replay and discard after a review. */
async function deadLettersPanel(panel) {
  const state = { page: 1, messageType: '', selected: new Map() };
  const body = h('div');
  const review = h('div');
  const error = h('div', { 'aria-live': 'assertive' });
  const typeInput = h('input', { type: 'text', id: 'dl-type', name: 'messageType', list: 'dl-types', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'dl-type-hint' });
  const types = h('datalist', { id: 'dl-types' });
  const filter = h('form', {
    class: 'filters',
    onsubmit: event => {
      event.preventDefault();
      state.messageType = typeInput.value.trim();
      state.page = 1;
      load();
    },
  },
  h('div', {}, h('label', { for: 'dl-type' }, 'Message type'),
    h('p', { class: 'hint', id: 'dl-type-hint' }, 'Its full name, as the list shows it; empty for all.'), typeInput, types),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
  append(panel, [h('h2', { id: 'dead-letters-heading' }, 'Dead letters'),
    h('p', {}, 'Messages that failed for good: a permanent error, or a fault that outlasted every retry (about 16 hours). Fix the ',
      'cause, then replay them; discard only what must never run.'),
    filter, body, review, error]);

  /** Reviews an action; `reviewed` is how many it was shown for when they are named by id (by type, more may come). */
  async function act(action, selection, described, reviewed) {
    // Made once per review: pressing "Write it" twice acts once.
    const key = crypto.randomUUID();
    const discard = action === 'discard';
    // The review's buttons go with it: the focus goes to what is said then, or back to the button that asked for the review.
    const opener = document.activeElement;
    const focusOn = node => { node?.setAttribute('tabindex', '-1'); node?.focus(); };
    fill(error);
    fill(review, h('div', { class: `preview${discard ? ' danger' : ''}`, role: 'region', 'aria-label': 'What will happen' },
      h('h3', {}, discard ? 'Discard: this cannot be undone' : 'Replay'),
      described,
      h('div', { class: 'actions' },
        h('button', {
          type: 'button',
          class: discard ? 'danger' : null,
          onclick: async event => {
            event.currentTarget.disabled = true;
            try {
              const done = await api(`/api/operations/dead-letters/${action}`, { method: 'POST', body: selection, idempotencyKey: key });
              const n = done.selected;
              // Another agent (or the command line) may have replayed or discarded some of them since the review.
              const changed = reviewed !== undefined && n !== reviewed
                ? ` ${reviewed} were reviewed: the others had been replayed or discarded in the meantime.` : '';
              const written = n === 0 ? `Nothing ${discard ? 'discarded' : 'replayed'}: the dead letters reviewed are no longer stored ` +
                  '(replayed or discarded in the meantime).'
                : discard ? `Discarded ${count(n, 'dead letter')} for good.${changed}`
                : `Marked ${count(n, 'dead letter')} for replay: the service runs ${n === 1 ? 'it' : 'them'} again within a few seconds; ` +
                  `one whose cause is not fixed fails again and comes back here. Refresh to see.${changed}`;
              fill(review, h('p', { class: 'notice ok', role: 'status' }, written));
              focusOn(review.querySelector('.notice'));
              say(written, 'ok');
              state.selected.clear();
              await load();
            } catch (e) {
              fill(review);
              fill(error, problemNotice(e));
              focusOn(error.querySelector('.notice'));
            }
          },
        }, 'Write it'),
        h('button', {
          type: 'button', class: 'secondary',
          onclick: () => {
            fill(review);
            // A disabled button (the selection emptied under the review) takes no focus: the focus would be lost with "Cancel".
            if (opener?.isConnected && !opener.disabled && opener !== document.body) return opener.focus();
            // Gone or disabled: the panel's heading. A heading takes the focus only with a tabindex; without one the focus was left on
            // the page's body.
            const heading = panel.querySelector('h2');
            heading.setAttribute('tabindex', '-1');
            heading.focus();
          },
        }, 'Cancel'))));
    review.querySelector('button')?.focus();
  }

  const listOf = letters => h('ul', {}, letters.map(l => h('li', {},
    h('span', { class: 'mono' }, l.id), ` ${shortType(l.messageType)}, failed ${utc(l.failedAt ?? l.sentAt)}: ${shortType(l.exceptionType)}`)));

  function reviewSelected(action) {
    const letters = [...state.selected.values()];
    const n = count(letters.length, 'dead letter');
    act(action, { ids: letters.map(l => l.id) }, action === 'discard'
      ? [h('p', {}, h('strong', {}, `Deletes ${n} for good`), ': the message', letters.length === 1 ? '' : 's',
        ' never run and cannot be brought back, and nothing records what they were.'), listOf(letters)]
      : [h('p', {}, h('strong', {}, `Runs ${n} again`), ': the service moves ', letters.length === 1 ? 'it' : 'them',
        ' back into its queue within a few seconds. Every handler is idempotent: what meanwhile happened is not done twice.'), listOf(letters)],
    letters.length);
  }

  function reviewType(action, type, total) {
    const now = `${total} now, on every page, and any more of that type that fail before you press Write it.`;
    act(action, { messageType: type }, action === 'discard'
      ? h('p', {}, h('strong', {}, `Deletes every dead letter of ${type} for good: `), now,
        ' The messages never run and cannot be brought back.')
      : h('p', {}, h('strong', {}, `Runs every dead letter of ${type} again: `), now));
  }

  async function load() {
    fill(body, h('p', {}, 'Loading…'));
    let found;
    try {
      found = await api('/api/operations/dead-letters', { query: { messageType: state.messageType, page: state.page } });
    } catch (e) {
      fill(body, problemNotice(e));
      return;
    }
    // The page size the API answered with, not a copy of its default (until 2026-12-08 a fixed 50 here).
    const pages = Math.max(1, Math.ceil(found.total / found.pageSize));
    if (state.page > pages) {
      state.page = pages;
      return load();
    }
    fill(types, [...new Set(found.deadLetters.map(l => l.messageType))].map(t => h('option', { value: t })));
    const ofType = state.messageType ? ` of ${state.messageType}` : '';
    if (found.total === 0) {
      return fill(body, h('p', { class: 'notice ok' }, `No dead letters${ofType}.`),
        state.messageType ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: showAll }, 'Show all')) : null);
    }
    const selectedCount = h('span', { 'aria-live': 'polite' });
    const replaySelected = h('button', { type: 'button', onclick: () => reviewSelected('replay') }, 'Replay selected');
    const discardSelected = h('button', { type: 'button', class: 'danger', onclick: () => reviewSelected('discard') }, 'Discard selected');
    const selectionChanged = () => {
      replaySelected.disabled = discardSelected.disabled = state.selected.size === 0;
      fill(selectedCount, state.selected.size ? `${state.selected.size} selected` : 'Select dead letters in the list, or filter by a type.');
    };
    const rows = found.deadLetters.map(l => h('tr', { 'data-id': l.id },
      h('td', {}, h('input', {
        type: 'checkbox',
        'aria-label': `Select ${shortType(l.messageType)} ${l.id}`,
        checked: state.selected.has(l.id),
        onchange: event => {
          if (event.currentTarget.checked) state.selected.set(l.id, l);
          else state.selected.delete(l.id);
          selectionChanged();
        },
      })),
      h('td', {}, h('strong', {}, shortType(l.messageType)), h('div', {}, dotted(l.messageType))),
      h('td', {}, dotted(l.exceptionType), h('div', { class: 'multiline' }, l.exceptionMessage)),
      h('td', { class: 'nowrap' }, utc(l.failedAt ?? l.sentAt)),
      h('td', { class: 'num', 'data-column': 'replays' }, String(l.replayCount)),
      h('td', { class: 'message' }, h('details', {}, h('summary', {}, 'Show the message'),
        h('p', { class: 'hint' }, 'Id ', h('span', { class: 'mono' }, l.id), `, sent ${utc(l.sentAt)}`),
        l.message === null || l.message === undefined ? h('p', {}, 'Not readable as JSON.')
          : h('pre', { class: 'mono' }, JSON.stringify(l.message, null, 2))))));
    fill(body,
      scrolling(h('table', { class: 'dead-letters' },
        h('caption', {}, `${count(found.total, 'dead letter')}${ofType}, newest first`, pages > 1 ? `; page ${state.page} of ${pages}` : ''),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Select')),
          ['Message type', 'Why it failed', 'Failed', 'Replays', 'Message'].map(c => h('th', { scope: 'col', class: c === 'Replays' ? 'num' : null }, c)))),
        h('tbody', {}, rows))),
      h('div', { class: 'actions' }, replaySelected, discardSelected, selectedCount),
      state.messageType ? h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => reviewType('replay', state.messageType, found.total) }, 'Replay all of this type'),
        h('button', { type: 'button', class: 'danger', onclick: () => reviewType('discard', state.messageType, found.total) }, 'Discard all of this type'),
        h('button', { type: 'button', class: 'secondary', onclick: showAll }, 'Show all')) : null,
      h('div', { class: 'actions' },
        pages > 1 ? h('button', { type: 'button', class: 'secondary', disabled: state.page <= 1, onclick: () => { state.page--; load(); } }, 'Previous page') : null,
        pages > 1 ? h('button', { type: 'button', class: 'secondary', disabled: state.page >= pages, onclick: () => { state.page++; load(); } }, 'Next page') : null,
        h('button', { type: 'button', class: 'secondary', onclick: () => { fill(review); load(); } }, 'Refresh')));
    selectionChanged();
  }

  function showAll() {
    typeInput.value = '';
    state.messageType = '';
    state.page = 1;
    load();
  }

  await load();
}

/** The latest reconciliation's findings in words, when it ran; "Run now" for support. */
async function reconciliationPanel(panel, mayRun) {
  const body = h('div', { 'aria-live': 'polite' });
  const error = h('div', { 'aria-live': 'assertive' });
  const run = mayRun ? h('button', {
    type: 'button',
    onclick: async event => {
      const button = event.currentTarget;
      button.disabled = true;
      fill(error);
      fill(body, h('p', {}, 'Running the checks…'));
      try {
        await render(await api('/api/operations/reconciliation/runs', { method: 'POST', body: {} }));
      } catch (e) {
        fill(error, problemNotice(e));
      } finally {
        button.disabled = false;
      }
    },
  }, 'Run now') : null;
  append(panel, [h('h2', { id: 'reconciliation-heading' }, 'Reconciliation'),
    h('p', {}, 'The safety net: every few minutes it checks that what the ledger’s events promise has happened (an invoice issued, an ',
      'e-mail sent, a card charged) and sends again what was lost. A finding stays open until a run no longer finds it.'),
    body, run ? h('div', { class: 'actions' }, run, h('span', { class: 'hint' }, 'Runs the same checks now and sends the repairs it finds.')) : null,
    error]);

  async function render(report) {
    // Not run yet is not a fault to wait out: when the schedule runs it first (or that nothing but "Run now" will) is said with it.
    // A paused schedule promises no run: it is said paused, and since when, instead of a next run.
    const paused = report.schedulePausedAt
      ? `the schedule is paused (since ${utc(report.schedulePausedAt)}): it runs only when support presses “Run now” until it is resumed`
      : null;
    if (!report.lastRunAt) {
      return fill(body, h('p', { class: 'notice' }, report.nextRunAt
        ? `Not run yet: the schedule runs it first at ${utc(report.nextRunAt)}.`
        : paused ? `Not run yet, and ${paused}.`
          : 'Not run yet, and this service runs it on no schedule (Reconciliation:Enabled is off): it runs only when support presses “Run now”.'));
    }
    const findings = report.openFindings ?? [];
    // The account's name is what support reads out; the id alone is not.
    const names = Object.fromEntries(await Promise.all([...new Set(findings.map(f => f.accountId))].map(async id => {
      try {
        return [id, (await api(`/api/accounts/${id}`)).companyName];
      } catch {
        return [id, id];
      }
    })));
    fill(body,
      h('p', {}, `Last run ${utc(report.lastRunAt)} · `,
        report.nextRunAt ? `next run ${utc(report.nextRunAt)}` : paused ?? 'no schedule: runs on “Run now” only',
        ` · ${count(report.runs, 'run')} so far · ${count(report.repairsDispatched, 'repair')} sent in all`),
      findings.length === 0 ? h('p', { class: 'notice ok' }, 'Every promise kept at the last run.') : [
        h('p', { class: 'notice warn' }, `${count(findings.length, 'broken promise')} found`),
        scrolling(h('table', {},
          h('caption', { class: 'visually-hidden' }, 'Open findings'),
          h('thead', {}, h('tr', {}, ['Promise', 'Account', 'About', 'What was found', 'What was done'].map(c => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, findings.map(f => h('tr', {},
            h('td', {}, PROMISES[f.check] ?? f.check, h('div', { class: 'mono' }, f.check)),
            h('td', {}, h('a', { href: `#/accounts/${f.accountId}` }, names[f.accountId])),
            h('td', { class: 'mono nowrap' }, f.subject),
            h('td', {}, f.detail),
            h('td', {}, f.repair ? `Repair: ${f.repair}` : 'Nothing could be sent to repair it: look into it by hand.'))))))]);
  }

  try {
    await render(await api('/api/operations/reconciliation'));
  } catch (e) {
    fill(body, problemNotice(e));
  }
}

/** What /health/ready's mail check says, and "send now" for the e-mails waiting for a retry after a mail outage. */
async function mailPanel(panel) {
  const body = h('div', { 'aria-live': 'polite' });
  const result = h('div', { 'aria-live': 'polite' });
  const send = h('button', {
    type: 'button',
    onclick: async event => {
      const button = event.currentTarget;
      button.disabled = true;
      fill(result);
      try {
        const { rescheduled } = await api('/api/operations/mail/send-now', { method: 'POST', body: {} });
        fill(result, h('p', { class: 'notice ok', role: 'status' }, rescheduled === 0
          ? 'No e-mail was waiting for a retry: nothing to send now.'
          : `${count(rescheduled, 'e-mail message')} made due now: the service sends them within a few seconds. Refresh to see the check.`));
        await render();
      } catch (e) {
        fill(result, problemNotice(e));
      } finally {
        button.disabled = false;
      }
    },
  }, 'Send waiting e-mails now');
  append(panel, [h('h2', { id: 'mail-heading' }, 'E-mail'), body,
    h('p', { class: 'hint', id: 'send-now-hint' }, 'After a mail outage, once the mail server is back: the e-mails waiting for their next ',
      'retry (15 s, then 1, 5, 15, 30 min, 1 h, …) are made due now. One already sent is not sent again; one scheduled for later on ',
      'purpose keeps its time.'),
    h('div', { class: 'actions' }, send, h('button', { type: 'button', class: 'secondary', onclick: () => render() }, 'Refresh')), result]);
  send.setAttribute('aria-describedby', 'send-now-hint');

  async function render() {
    let health;
    try {
      health = await api('/health/ready');
    } catch (e) {
      // Unhealthy answers 503 with the same report.
      if (!(e instanceof ApiError && e.problem?.checks)) return fill(body, problemNotice(e));
      health = e.problem;
    }
    const check = health.checks?.mail;
    if (!check) return fill(body, h('p', { class: 'notice warn' }, 'The service reports no mail check.'));
    const d = check.data ?? {};
    const lines = [
      d.waiting > 0 ? `${count(d.waiting, 'e-mail')} tried and not sent yet, the oldest first tried ${seconds(d.oldestWaitingSeconds ?? 0)} ago`
        : 'No e-mail waiting for a retry',
      d.lastFailure ? `this node’s last attempt failed: ${d.lastFailure}` : null,
      d.notTried > 0 ? `${count(d.notTried, 'e-mail')} owed and never tried` +
        (d.notTriedDeadLetters > 0 ? ` (${d.notTriedDeadLetters} of them ${d.notTriedDeadLetters === 1 ? 'a dead letter' : 'dead letters'})` : '') +
        (d.oldestNotTriedSeconds ? `, the oldest owed for ${seconds(d.oldestNotTriedSeconds)}` : '') : null,
    ].filter(Boolean);
    fill(body,
      h('p', { class: `notice ${check.status === 'Healthy' ? 'ok' : 'warn'}` },
        h('strong', {}, check.status === 'Healthy' ? 'E-mail is getting out.' : 'E-mail needs attention.'), ' ', `(${check.status})`),
      h('ul', {}, lines.map(l => h('li', {}, l))),
      // The check's own sentence is written for operators (it names endpoints); kept, folded, for quoting to them.
      check.description ? h('details', {}, h('summary', {}, 'The check’s own words, for the operators'),
        h('p', { class: 'hint' }, check.description)) : null);
  }

  await render();
}

// ---------- invoices across accounts (finance, auditors) ----------

const INVOICE_LISTS = [
  ['open', 'Open invoices', 'still owed'],
  ['overdue', 'Overdue invoices', 'overdue'],
  ['refund_owed', 'Invoices owed back', 'owed back'],
  ['paid', 'Paid invoices', 'paid'],
  ['cancelled', 'Cancelled invoices', 'cancelled'],
  ['', 'All invoices', 'all'],
];

/**
 * What is open, overdue or owed back across all accounts, by due date, 50 a page, with the sums of all pages per currency as the API
 * gives them (never added across currencies): finance's first look of the day, and what a batch of transfers is matched against.
 */
async function invoicesView(params) {
  const status = params.has('status') ? params.get('status') : 'open';
  // Every filter is in the address: a link to "overdue in GBP" can be shared, and the back button returns to the list before.
  const filters = { status, currency: params.get('currency') || '', method: params.get('method') || '', dueBefore: params.get('dueBefore') || '',
    ...issuedFilters(params) };
  const page = Number(params.get('page') || 1);
  const [, title, sumWord] = INVOICE_LISTS.find(([value]) => value === status) ?? ['', 'Invoices', 'matching'];
  const statusSelect = h('select', { id: 'i-status', name: 'status' },
    INVOICE_LISTS.map(([value, label]) => h('option', { value, selected: value === status ? true : null }, label)));
  const currencyInput = h('input', { id: 'i-currency', name: 'currency', value: filters.currency, size: 4, maxlength: 3, autocomplete: 'off',
    'aria-describedby': 'i-currency-hint' });
  const methodSelect = h('select', { id: 'i-method', name: 'method' },
    [['', 'Any'], ['bank_transfer', 'Bank transfer'], ['card', 'Card']]
      .map(([value, label]) => h('option', { value, selected: value === filters.method ? true : null }, label)));
  // A day typed as ISO 8601, as every date on this page is shown (a date input would show the browser's locale).
  const dueBeforeInput = h('input', { type: 'text', id: 'i-due-before', name: 'dueBefore', value: filters.dueBefore, size: 10, maxlength: 10,
    autocomplete: 'off', spellcheck: 'false', pattern: '\\d{4}-\\d{2}-\\d{2}', placeholder: 'yyyy-mm-dd', 'aria-describedby': 'i-due-before-hint' });
  const issuedInputs = issuedDayInputs(filters);
  const form = h('form', {
    class: 'filters aligned',
    onsubmit: event => {
      event.preventDefault();
      const q = new URLSearchParams({ status: statusSelect.value });
      if (currencyInput.value.trim()) q.set('currency', currencyInput.value.trim());
      if (methodSelect.value) q.set('method', methodSelect.value);
      if (dueBeforeInput.value.trim()) q.set('dueBefore', dueBeforeInput.value.trim());
      for (const input of issuedInputs) if (input.value.trim()) q.set(input.name, input.value.trim());
      window.location.hash = `#/invoices?${q}`;
    },
  },
  h('div', {}, h('label', { for: 'i-status' }, 'Show'), statusSelect),
  h('div', {}, h('label', { for: 'i-currency' }, 'Currency'), currencyInput,
    h('p', { class: 'hint', id: 'i-currency-hint' }, 'ISO 4217, e.g. EUR; empty for every currency')),
  h('div', {}, h('label', { for: 'i-method' }, 'Payment'), methodSelect),
  h('div', {}, h('label', { for: 'i-due-before' }, 'Due before'), dueBeforeInput,
    h('p', { class: 'hint', id: 'i-due-before-hint' }, 'yyyy-mm-dd; due before that day')),
  issuedFields(issuedInputs),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
  const results = h('div', { 'aria-live': 'polite' });
  show(h('h1', {}, title), form, results);
  // A table of eight columns and a line's buttons: the whole width of a laptop screen, not the 1200 px the other pages keep.
  main.classList.add('wide');

  // The page first, without the sums of all pages (adding up every matching invoice is most of the read at 100,000 accounts:
  // BENCHMARKS.md, P6); the sums are asked for once the page is shown, and fill in their line when they arrive.
  let list;
  try {
    list = await api('/api/invoices', { query: { ...filters, page, pageSize: 50, sums: 'omit' } });
  } catch (error) {
    fill(results, problemNotice(error));
    return;
  }
  // The amount each list is about: what is still to be paid, what CPS owes back, or what was invoiced.
  const owedBack = status === 'refund_owed';
  const amountOf = t => (owedBack ? t.owedBack : ['open', 'overdue'].includes(status) ? t.outstanding : t.total);
  const amountLabel = owedBack ? 'Owed back' : 'Outstanding';
  // Nothing on the first page and none after it: the list is empty, said at once (no sums to wait for).
  const empty = page === 1 && list.items.length === 0 && !list.hasMore;
  const totals = h('p', { class: 'totals', 'data-testid': 'invoice-totals' }, empty ? noInvoicesWords(status, title, filters) : 'Counting…');
  const pageLink = (p, label) => h('a', { class: 'button secondary', href: `#/invoices?${withPage(params, p)}` }, label);
  // "Page n" until the sums count the pages: "Page n of m".
  const pageWords = h('span', { 'data-testid': 'invoice-page' }, `Page ${page}`);
  fill(results,
    totals,
    list.items.length ? scrolling(h('table', { 'data-testid': 'invoice-list', class: 'invoice-list' },
      h('caption', { class: 'visually-hidden' }, `${title}, by due date`),
      h('thead', {}, h('tr', {}, ['Invoice', 'Company', 'Issued', 'Due', 'Total', amountLabel, 'Payment', 'Status']
        .map(c => h('th', {
          scope: 'col',
          class: ['Total', amountLabel].includes(c) ? 'num' : null,
        }, c)))),
      h('tbody', {}, list.items.map(i => h('tr', {},
        h('td', { class: 'mono nowrap' }, i.invoiceNumber),
        // The account's overview: every read it makes admits finance (and auditors); it offers finance's invoice actions only.
        h('td', {}, h('a', { href: `#/accounts/${i.accountId}` }, i.companyName)),
        h('td', { class: 'nowrap' }, day(i.issuedOn)),
        h('td', { class: 'nowrap' }, day(i.dueOn)),
        h('td', { class: 'num nowrap' }, money(i.total, i.currency)),
        h('td', { class: 'num nowrap' }, money(owedBack ? i.owedBack : i.outstanding, i.currency)),
        // The reference a transfer quotes is what finance matches it by: grouped in fours as the invoice prints it, kept whole. Beside
        // the method where the width allows, under it where not; "transfer" (the column says "Payment") is a word shorter for the line
        // to fit 1366 pixels.
        h('td', {}, h('span', { class: 'nowrap' }, i.paymentMethod === 'bank_transfer' ? 'transfer' : words(i.paymentMethod)),
          i.creditorReference ? [' ', h('span', { class: 'mono nowrap' }, i.creditorReference.replace(/(.{4})(?=.)/g, '$1 '))] : null),
        // What was printed, when the member rings about it: the invoice, and the credit note of a cancelled one. The buttons beside the
        // status where the width allows (a line one line tall), under it where not; in one row either way.
        h('td', {}, h('div', { class: 'line-status' },
          h('span', { class: 'nowrap' }, words(i.status), i.daysOverdue !== null && i.daysOverdue !== undefined ? ` ${count(i.daysOverdue, 'day')}` : null),
          invoiceLineButtons(i.accountId, i.invoiceNumber, i.creditNoteNumber, i)))))))) : null,
    // Paged by hasMore: the API's page no longer counts the list, so Next is there while a later page has invoices.
    page > 1 || list.hasMore ? h('nav', { class: 'actions', 'aria-label': 'Invoice pages' },
      page > 1 ? pageLink(page - 1, 'Previous page') : null,
      pageWords,
      list.hasMore ? pageLink(page + 1, 'Next page') : null) : null);
  if (empty) return;

  // The sums of all pages, with the same filters. Awaited here, so that a list read again behind a dialog (route's quiet) is drawn
  // whole at once; shown first, the page is usable meanwhile, and stays so if the sums cannot be read.
  let sums;
  try {
    sums = await api('/api/invoices/sums', { query: filters });
  } catch (error) {
    const why = error instanceof ApiError ? `${error.problem.title || 'Request failed'} (${error.status})` : 'no answer';
    fill(totals, h('span', { class: 'notice warn' }, `The sums could not be read (${why}); the invoices below are as listed.`));
    return;
  }
  fill(totals, sums.totals.length
    ? `${sumWord[0].toUpperCase()}${sumWord.slice(1)}: ` + sums.totals.map(t => `${money(amountOf(t), t.currency)} (${count(t.invoices, 'invoice')})`).join(', ')
    : noInvoicesWords(status, title, filters));
  const pages = Math.max(1, Math.ceil(sums.total / list.pageSize));
  fill(pageWords, `Page ${page} of ${pages}`);
}

// Finance's month-end ("what did we issue in November"): the API's issuedFrom and issuedTo, both days included, kept in the address
// as the other filters are.
const ISSUED_FILTERS = [
  ['issuedFrom', 'i-issued-from', 'Issued from', 'yyyy-mm-dd; issued on or after that day'],
  ['issuedTo', 'i-issued-to', 'Issued to', 'yyyy-mm-dd; issued on or before that day'],
];

function issuedFilters(params) {
  return Object.fromEntries(ISSUED_FILTERS.map(([name]) => [name, params.get(name) || '']));
}

/** The two days as typed text, ISO 8601 like every date on the page (a date input would show the browser's locale). */
function issuedDayInputs(filters) {
  return ISSUED_FILTERS.map(([name, id]) => h('input', { type: 'text', id, name, value: filters[name], size: 10, maxlength: 10,
    autocomplete: 'off', spellcheck: 'false', pattern: '\\d{4}-\\d{2}-\\d{2}', placeholder: 'yyyy-mm-dd', 'aria-describedby': `${id}-hint` }));
}

function issuedFields(inputs) {
  return ISSUED_FILTERS.map(([, id, label, hint], n) => h('div', {}, h('label', { for: id }, label), inputs[n],
    h('p', { class: 'hint', id: `${id}-hint` }, hint)));
}

/**
 * An empty list said for what was asked: with no filter but the list, that there are none ("No invoices yet." for all of them), not
 * that none "match"; with filters, each as typed, so finance sees which one found nothing.
 */
function noInvoicesWords(status, title, filters) {
  const list = status === '' ? 'invoices' : title.charAt(0).toLowerCase() + title.slice(1);
  const set = [
    filters.currency ? `currency ${filters.currency}` : null,
    filters.method ? `payment by ${words(filters.method)}` : null,
    filters.dueBefore ? `due before ${filters.dueBefore}` : null,
    ...ISSUED_FILTERS.map(([name, , label]) => (filters[name] ? `${label.toLowerCase()} ${filters[name]}` : null)),
  ].filter(Boolean);
  if (set.length) return `No ${list} match these filters: ${set.join(', ')}.`;
  return status === '' ? 'No invoices yet.' : `No ${list}.`;
}

/** An account's history, audit or support actions asked for by finance: said, and nothing asked of the API that it refuses finance. */
async function notFinancesTab(id) {
  const account = await loadAccount(id);
  show(h('h1', {}, 'Not for this role'),
    h('p', { class: 'notice warn' }, 'Finance reads an account’s overview; its history, time travel, audit and support actions are for ',
      'support staff and auditors.'),
    h('p', {}, h('a', { href: `#/accounts/${id}` }, account.companyName)));
}

// ---------- finance's writing: transfers received, credit notes ----------

/**
 * One of finance's writes, in the two steps support's actions take: the form, then exactly what will be written (read from the API at
 * review time), and only "Write it" writes, once (the idempotency key is made at review time). It opens in a dialog over the page, and
 * the page (the invoice list, an account's overview) is read again after the write while the dialog keeps the API's answer.
 * `review(values)` answers { lines: [[term, value]], warning, refused, body }: `refused` says why nothing can be written (no "Write it");
 * `send(body, key)` writes and answers what to say. Field errors of a 400 go next to their fields, as the support actions do.
 */
function financeDialog({ id, title, intro, fields, review, send, opener }) {
  const error = h('div', { 'aria-live': 'assertive' });
  const preview = h('div', { 'aria-live': 'polite' });
  const inputs = {};
  const controls = fields.map(f => {
    const inputId = `${id}-${f.name}`;
    const common = { id: inputId, name: f.name, required: !f.optional, autocomplete: 'off', 'aria-describedby': `${inputId}-hint ${inputId}-error` };
    const input = f.multiline ? h('textarea', { ...common, rows: 3 })
      : h('input', { ...common, type: 'text', value: f.value ?? '', size: f.size, maxlength: f.maxlength, inputmode: f.inputmode,
        pattern: f.pattern, placeholder: f.placeholder, spellcheck: 'false' });
    inputs[f.name] = input;
    return h('div', { class: f.multiline || f.wide ? 'wide' : null },
      h('label', { for: inputId }, f.label),
      h('p', { class: 'hint', id: `${inputId}-hint` }, f.hint || ''),
      input,
      h('p', { class: 'field-error', id: `${inputId}-error` }));
  });
  const values = () => Object.fromEntries(fields.map(f => [f.name, inputs[f.name].value.trim()]));
  const setEditable = editable => Object.values(inputs).forEach(i => { i.readOnly = !editable; });
  const clearErrors = () => {
    fill(error);
    clearFieldErrors(id, fields, inputs);
  };
  const backToForm = () => {
    fill(preview);
    setEditable(true);
    form.hidden = false;
    reviewButton.hidden = false;
  };
  // A refusal at review or at "Write it": the form again, the API's field errors beside their fields, the focus on the first.
  const refusedWith = e => {
    backToForm();
    markFieldErrors(e, id, fields, inputs);
    fill(error, formRefusal(e, fields));
    focusRefusal(inputs, error);
  };
  const close = h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Close');
  const reviewButton = h('button', { type: 'submit' }, 'Review');
  // The page being read again after the write, until it is drawn (see the dialog's "close").
  let rereading = null;

  async function write(event, reviewed, key) {
    const button = event.currentTarget;
    button.disabled = true;
    fill(error);
    try {
      const written = await send(reviewed.body, key);
      form.hidden = true;
      fill(preview, h('div', { class: 'notice ok', role: 'status' }, written));
      close.focus();
    } catch (e) {
      refusedWith(e);
      return;
    }
    // What the write changed, read again behind the dialog (the route reads the page the address names).
    rereading = route({ quiet: true });
    try {
      await rereading;
    } finally {
      rereading = null;
    }
  }

  const form = h('form', {
    onsubmit: async event => {
      event.preventDefault();
      clearErrors();
      const v = values();
      // Made once per review: pressing "Write it" twice writes once.
      const key = crypto.randomUUID();
      setEditable(false);
      reviewButton.hidden = true;
      fill(preview, h('p', {}, 'Reading the invoice…'));
      let reviewed;
      try {
        reviewed = await review(v);
      } catch (e) {
        refusedWith(e);
        return;
      }
      // The review states every value typed: the form gives way to it (back with "Change"), so on a laptop screen the review and
      // "Write it" are in view together, not below a read-only copy of the form.
      form.hidden = true;
      fill(preview, h('div', { class: reviewed.refused ? 'preview danger' : 'preview', role: 'region', 'aria-label': 'What will be written' },
        h('h3', {}, reviewed.refused ? 'Nothing can be written' : 'This will be written to the ledger'),
        h('dl', {}, reviewed.lines.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, isolated(value))]),
          reviewed.refused ? null : [h('dt', {}, 'Recorded as'), h('dd', {}, isolated(me.name))]),
        reviewed.warning ? h('p', { class: 'notice warn' }, reviewed.warning) : null,
        h('p', {}, reviewed.refused ?? 'Events are never changed afterwards: a mistake is corrected by a new action.'),
        h('div', { class: 'actions' },
          reviewed.refused ? null : h('button', { type: 'button', onclick: event => write(event, reviewed, key) }, 'Write it'),
          h('button', { type: 'button', class: 'secondary', onclick: () => { backToForm(); Object.values(inputs).find(i => !i.disabled)?.focus(); } },
            'Change'))));
      preview.querySelector('button')?.focus();
    },
  }, h('div', { class: 'fields' }, controls), h('div', { class: 'actions' }, reviewButton));
  // "Close" beside the title: in view whatever the dialog holds below.
  const dialog = h('dialog', { class: 'finance-action', 'aria-labelledby': `${id}-heading`, 'data-testid': id },
    h('div', { class: 'dialog-head' }, h('h2', { id: `${id}-heading` }, title), close), intro,
    // A refusal above the form: in view with the field it names, not below the form's foot.
    error, form, preview);
  // The opener is replaced when the page is read again after a write: its successor (the same name: the same action on the same
  // invoice) takes the focus back, so the keyboard stays on that line; if the action is no longer offered, the page's heading.
  const successor = () => [...document.querySelectorAll('button')].find(b => b.textContent === opener.textContent
    && b.getAttribute('aria-label') === opener.getAttribute('aria-label'));
  // Closed at once after "Write it", the page is still being read: the opener is gone and its successor not yet drawn, and drawing the
  // page would then take the focus to its heading. The focus waits for the page, so the keyboard lands on the line all the same.
  dialog.addEventListener('close', async () => {
    dialog.remove();
    if (rereading) await rereading.catch(() => {});
    (opener?.isConnected ? opener : (opener && successor()) || main.querySelector('h1'))?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  Object.values(inputs)[0]?.focus();
}

/** Finance's actions on one invoice, on the list's line and on the account's invoice: only finance sees them (the API refuses others). */
function financeInvoiceActions(invoice) {
  if (!hasRole('finance')) return null;
  const { accountId, invoiceNumber, status } = invoice;
  // The accessible name begins with the visible label (WCAG 2.5.3) and says which invoice.
  const button = (label, open) => h('button', {
    type: 'button', class: 'secondary small', 'aria-label': `${label}, ${invoiceNumber}`, onclick: event => open(event.currentTarget),
  }, label);
  return [
    ['open', 'overdue'].includes(status)
      ? button('Record transfer', opener => transferDialog({ accountId, invoiceNumber, currency: invoice.currency }, opener)) : null,
    status !== 'cancelled' ? button('Cancel by credit note', opener => cancelDialog({ accountId, invoiceNumber }, opener)) : null,
    owedBackOn(invoice) > 0
      ? button('Record refund', opener => refundDialog({ accountId, invoiceNumber, currency: invoice.currency }, opener)) : null,
    // The list's line does not say whether a cancelled invoice was replaced: the review reads the invoice and says so.
    status === 'cancelled' && !invoice.replacedBy
      ? button('Issue replacement', opener => replaceDialog({ accountId, invoiceNumber }, opener)) : null,
  ];
}

/** What CPS owes back on an invoice: the list's `owedBack`, or an account's invoice's overpaid and refund due (one of them is 0). */
const owedBackOn = invoice => invoice.owedBack ?? (invoice.overpaid ?? 0) + (invoice.refundDue ?? 0);

/** The header's "Record a transfer": a statement line whose invoice finance knows only by the reference the payer wrote. */
function financeHeaderActions() {
  if (!hasRole('finance')) return null;
  return h('button', { type: 'button', onclick: event => transferDialog(null, event.currentTarget) }, 'Record a transfer');
}

/**
 * The API's preview of a write (…/preview: the ledger's own decision, written nowhere): `{ preview }`, or `{ refused }` with the API's
 * sentence when the write would be refused as a whole (404 no invoice, 409). A 400 is thrown on, so its field errors go beside their
 * fields.
 */
async function previewOf(path, body) {
  try {
    return { preview: await api(path, { method: 'POST', body }) };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 409))
      return { refused: `${e.problem.detail || ''} The API refuses it (${e.status}, ${e.problem.title}).`.trim() };
    throw e;
  }
}

/** A preview's `membershipAfter` (a transfer's, a credit note's): what settling the invoice does to a suspension resting on it. */
const membershipAfterLines = p => ({
  reinstated: [['Membership', 'suspended for this invoice: active again (MembershipReinstated), and the member is told']],
  suspension_moved: [['Membership', 'suspended for this invoice: stays suspended, now for another invoice of its term overdue past its grace period (MembershipSuspended)']],
})[p.membershipAfter] ?? [];

/**
 * Record a transfer received (POST /api/payments/bank-transfers), from a bank statement line: on a known invoice (`known`: its account,
 * number and currency), or by the reference as the payer wrote it. The review is the API's preview (the write's own matching and
 * decision, InvoicePayments.Receive): partial, in full or an overpayment, the outstanding before and after, or the write's refusal.
 */
function transferDialog(known, opener) {
  financeDialog({
    id: 'transfer',
    title: 'Record a transfer received',
    opener,
    intro: h('p', {}, known ? `On invoice ${known.invoiceNumber}. ` : 'The invoice is the one the reference names: its creditor reference (RF…) or its number (INV-…). ',
      'Type what the bank statement line says.'),
    fields: [
      known ? null : { name: 'reference', label: 'Reference the payer wrote', hint: 'As on the statement, e.g. RF94 INV2 0260 0000 1 or INV-2026-000001.', maxlength: 500,
        wide: true },
      { name: 'amount', label: 'Amount', hint: 'As credited, with a point before the cents, e.g. 124.00.', size: 12, inputmode: 'decimal', pattern: '\\d+(\\.\\d{1,2})?' },
      { name: 'currency', label: 'Currency', hint: 'ISO 4217, e.g. EUR: the invoice’s.', value: known?.currency ?? '', size: 4, maxlength: 3 },
      { name: 'valueDate', label: 'Value date', hint: 'yyyy-mm-dd, the day the bank credited it.', size: 10, maxlength: 10,
        pattern: '\\d{4}-\\d{2}-\\d{2}', placeholder: 'yyyy-mm-dd' },
      { name: 'bankReference', label: 'Bank reference', hint: 'The bank’s reference of the transfer, e.g. LHV-20261205-0042.', maxlength: 100 },
      known ? { name: 'reference', label: 'Reference the payer wrote', hint: 'Optional: kept with the payment.', optional: true, maxlength: 500, wide: true } : null,
    ].filter(Boolean),
    review: async v => {
      const currency = v.currency.toUpperCase();
      const body = { invoiceNumber: known?.invoiceNumber ?? null, reference: v.reference || null, amount: Number(v.amount), currency,
        valueDate: v.valueDate, bankReference: v.bankReference };
      const given = [
        ['Amount', money(v.amount, currency)],
        ['Value date', v.valueDate],
        ['Bank reference', v.bankReference],
        ['Reference', v.reference || '—'],
      ];
      // The API finds the invoice and decides as the write will (InvoicePayments.Receive); the console only states its answer.
      const { preview: p, refused } = await previewOf('/api/payments/bank-transfers/preview', body);
      if (refused) return { body, lines: given, refused };
      return {
        // The invoice the API found is named in the request, so what is written is what was reviewed; the reference is kept as written.
        body: { ...body, invoiceNumber: p.invoiceNumber },
        lines: [['Event', p.events.map(e => (e === 'PaymentReceived' ? `${e} (bank transfer)` : e)).join(', then ')], ['On', [`invoice ${p.invoiceNumber} of `, isolated(p.companyName)]], ...given,
          ['Outstanding', `${money(p.outstandingBefore, p.currency)} before, ${money(p.outstanding, p.currency)} after (${words(p.kind)})`],
          ...membershipAfterLines(p)],
        warning: p.overpaid > 0 ? `More than is outstanding: the API records it as an overpayment, and ${money(p.overpaid, p.currency)} ` +
          'is then owed back to the payer (the “Invoices owed back” list).' : null,
      };
    },
    send: async (body, key) => {
      const r = await api('/api/payments/bank-transfers', { method: 'POST', body, idempotencyKey: key });
      return `Written: ${money(r.amount, r.currency)} received on ${r.invoiceNumber} (${words(r.kind)}); ` +
        `${money(r.outstanding, r.currency)} outstanding now${r.invoiceStatus === 'paid' ? ', the invoice is paid' : ''}` +
        `${r.overpaid > 0 ? `; ${money(r.overpaid, r.currency)} overpaid, owed back to the payer` : ''}` +
        `${r.membershipReinstated ? '; the membership this invoice kept suspended is active again' : ''}.`;
    },
  });
}

/**
 * Cancel an invoice by credit note (POST …/cancellation), with the reason printed on the credit note; its PDF once written. The review
 * is the API's preview: the credit note's figures, the refund then due and a suspension lifted, or the write's refusal.
 */
function cancelDialog({ accountId, invoiceNumber }, opener) {
  financeDialog({
    id: 'cancel-invoice',
    title: 'Cancel an invoice by credit note',
    opener,
    intro: h('p', {}, `Invoice ${invoiceNumber}: a credit note for its total cancels it, and nothing is owed on it any more. `,
      'Money received on it becomes a refund due.'),
    fields: [{ name: 'reason', label: 'Reason', multiline: true,
      hint: 'Why, for the buyer: printed on the credit note, and read by auditors (at least 5 characters).' }],
    review: async v => {
      const body = { reason: v.reason };
      // The API's own decision (CancelInvoiceDecision): the credit note's figures, the refund then due, a suspension lifted, or its refusal.
      const { preview: p, refused } = await previewOf(
        `/api/accounts/${accountId}/invoices/${encodeURIComponent(invoiceNumber)}/cancellation/preview`, body);
      if (refused) return { body, lines: [['Invoice', invoiceNumber]], refused };
      return {
        body,
        lines: [['Events', `${p.events.join(', then ')} (numbered CN-… when written)`],
          ['Invoice', [`${p.invoiceNumber} of `, isolated(p.companyName), `, total ${money(p.total, p.currency)}`]],
          ['Credited', money(p.total, p.currency)],
          ['Outstanding', `${money(p.outstandingBefore, p.currency)} before, nothing after`],
          ['Refund due', p.refundDue > 0 ? `${money(p.refundDue, p.currency)} received on it and not refunded yet, to be refunded to the payer` : 'none: nothing was received on it'],
          ...membershipAfterLines(p),
          ['Reason', v.reason]],
      };
    },
    send: async (body, key) => {
      const r = await api(`/api/accounts/${accountId}/invoices/${encodeURIComponent(invoiceNumber)}/cancellation`,
        { method: 'POST', body, idempotencyKey: key });
      return [`Written: ${r.invoiceNumber} cancelled by credit note `, h('strong', { class: 'nowrap' }, r.creditNoteNumber),
        r.refundDue > 0 ? `; ${money(r.refundDue, r.currency)} received on it and not refunded yet is to be refunded` : '',
        r.membershipReinstated ? '; the membership this invoice kept suspended is active again' : '', '.',
        invoiceDocuments(accountId, r.invoiceNumber, r.creditNoteNumber)];
    },
  });
}

/** Record a refund finance paid (POST …/refunds) against what is owed back on an invoice: an overpayment, or money on a cancelled one. */
function refundDialog({ accountId, invoiceNumber, currency }, opener) {
  financeDialog({
    id: 'refund',
    title: 'Record a refund paid',
    opener,
    intro: h('p', {}, `On invoice ${invoiceNumber}: money CPS paid back to the payer, at most what is owed back on it.`),
    fields: [
      { name: 'amount', label: 'Amount', hint: 'As paid out, with a point before the cents, e.g. 50.00.', size: 12, inputmode: 'decimal', pattern: '\\d+(\\.\\d{1,2})?' },
      { name: 'currency', label: 'Currency', hint: 'ISO 4217: the invoice’s, the currency received.', value: currency, size: 4, maxlength: 3 },
      { name: 'paidOn', label: 'Paid on', hint: 'yyyy-mm-dd, the day the refund left CPS’s bank account.', size: 10, maxlength: 10,
        pattern: '\\d{4}-\\d{2}-\\d{2}', placeholder: 'yyyy-mm-dd' },
      { name: 'reference', label: 'Bank reference', hint: 'The bank’s reference of the refund transfer, e.g. LHV-20261205-0107.', maxlength: 100 },
    ],
    review: async v => {
      const code = v.currency.toUpperCase();
      const body = { amount: Number(v.amount), currency: code, paidOn: v.paidOn, reference: v.reference };
      const given = [['Amount', money(v.amount, code)], ['Paid on', v.paidOn], ['Bank reference', v.reference]];
      // The API's own decision (RefundDecision): what is owed back before and after, or its refusal, said before anything is sent.
      const { preview: p, refused } = await previewOf(
        `/api/accounts/${accountId}/invoices/${encodeURIComponent(invoiceNumber)}/refunds/preview`, body);
      if (refused) return { body, lines: [['On', `invoice ${invoiceNumber}`], ...given], refused };
      const of = p.of === 'cancellation' ? 'of money received on a cancelled invoice' : 'of an overpayment';
      return {
        body,
        lines: [['Event', `RefundPaid (${of})`], ['On', [`invoice ${p.invoiceNumber} of `, isolated(p.companyName)]], ...given,
          ['Owed back', `${money(p.owedBackBefore, p.currency)} before, ${money(p.stillOwedBack, p.currency)} after`]],
      };
    },
    send: async (body, key) => {
      const r = await api(`/api/accounts/${accountId}/invoices/${encodeURIComponent(invoiceNumber)}/refunds`,
        { method: 'POST', body, idempotencyKey: key });
      return `Written: ${money(r.amount, r.currency)} refunded on ${r.invoiceNumber}; ${money(r.stillOwedBack, r.currency)} still owed back.`;
    },
  });
}

/**
 * Issue the corrected invoice replacing a cancelled one (POST …/replacement): the same charge for the same term, its surcharge and VAT
 * decided again today. The review is the API's preview: the total it would have, or why the term no longer owes it (its 409), before
 * anything is sent.
 */
function replaceDialog({ accountId, invoiceNumber }, opener) {
  financeDialog({
    id: 'replace-invoice',
    title: 'Issue the replacement of a cancelled invoice',
    opener,
    intro: h('p', {}, `Invoice ${invoiceNumber}: a new invoice for the same charge and term, with today’s billing details and VAT.`),
    fields: [{ name: 'reason', label: 'Reason', multiline: true, hint: 'Why, for the audit trail, e.g. the buyer’s VAT ID was missing (at least 5 characters).' }],
    review: async v => {
      const body = { reason: v.reason };
      // The API's own decision (ReplaceInvoiceDecision): what the corrected invoice would total today, or why the term no longer owes it.
      const { preview: p, refused } = await previewOf(
        `/api/accounts/${accountId}/invoices/${encodeURIComponent(invoiceNumber)}/replacement/preview`, body);
      if (refused) return { body, lines: [['Replaces', `invoice ${invoiceNumber}`]], refused };
      return {
        body,
        lines: [['Events', `${p.events.join(', then ')} (the corrected invoice numbered INV-… when written)`],
          ['Replaces', [`invoice ${p.replacesInvoiceNumber} of `, isolated(p.companyName), `, cancelled by credit note ${p.creditNoteNumber}`]],
          ['Charge', `${p.lines.map(l => l.description).join(', ')}, ${day(p.periodStart)} to ${day(p.periodEnd)}`],
          ['Total', `${money(p.total, p.currency)}, VAT ${money(p.vat, p.currency)} included, due ${day(p.dueOn)} if written today ` +
            `(the cancelled invoice's was ${money(p.replacedTotal, p.currency)})`],
          ['Reason', v.reason]],
      };
    },
    send: async (body, key) => {
      const r = await api(`/api/accounts/${accountId}/invoices/${encodeURIComponent(invoiceNumber)}/replacement`,
        { method: 'POST', body, idempotencyKey: key });
      return [`Written: invoice ${r.invoiceNumber} replaces ${r.replacesInvoiceNumber}: ${money(r.total, r.currency)}, due ${day(r.dueOn)}.`,
        invoiceDocuments(accountId, r.invoiceNumber)];
    },
  });
}

// ---------- routing ----------

// Quiet: the page read again behind a finance dialog after a write keeps what it shows until the new page is drawn whole, instead
// of blinking to "Loading…" and a half-drawn page behind the dialog. As a hashchange listener it gets an Event: not quiet.
async function route({ quiet = false } = {}) {
  if (quiet) return drawnAside(route);
  say('');
  renderWho();
  if (!me) return signInView();
  if (!isStaff() && !hasRole('finance')) {
    // Not only "not here": where a member does what it came for.
    const elsewhere = hasRole('member') ? 'Members see their account, products, points and invoices in the CPS member portal.' : null;
    return show(h('h1', {}, 'Not for this role'),
      h('p', { class: 'notice warn' }, `The console is for support staff, auditors and finance; you are signed in as ${me.roles.join(', ') || 'no role'}.`),
      elsewhere ? h('p', {}, elsewhere) : null);
  }
  const [path, queryString] = (window.location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(queryString || '');
  const parts = path.split('/').filter(Boolean);
  try {
    // Finance's page is the invoice list (what it records is the API's: docs/api-tour.md, "Invoices and payments"), and from a line
    // the account's overview, which reads only what finance may read.
    if (!isStaff() && parts[0] === 'accounts' && parts[1]) {
      show(h('p', {}, 'Loading…'));
      return await (parts[2] ? notFinancesTab(parts[1]) : overviewView(parts[1]));
    }
    if (parts[0] === 'search') return await searchView(params.get('q'));
    if (parts[0] === 'invoices' || !isStaff() || (startsOnInvoices() && parts.length === 0 && !params.has('q'))) {
      show(h('p', {}, 'Loading…'));
      return await invoicesView(params);
    }
    if (parts[0] === 'operations') {
      show(h('p', {}, 'Loading…'));
      return await operationsView();
    }
    if (parts[0] === 'accounts' && parts[1]) {
      const view = { '': overviewView, history: historyView, audit: auditView, support: supportView }[parts[2] ?? ''];
      if (!view) return show(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: accountSearchHref() }, 'Find an account')));
      show(h('p', {}, 'Loading…'));
      return await view(parts[1], params);
    }
    return await searchView(params.get('q'));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.token = null;
      me = null;
      say('Your sign-in has expired: sign in again.', 'warn');
      return signInView();
    }
    // Finance's '#/' is its invoice list: the link goes to the search wherever it lives for the role.
    return show(h('h1', {}, 'Could not load this page'), problemNotice(error), h('p', {}, h('a', { href: accountSearchHref() }, 'Find an account')));
  }
}

// Draws a page into a detached copy of <main>, then puts what was drawn in place of what is shown, in one step. Nothing takes the
// focus: the dialog the page was read again behind gives it back when it closes.
async function drawnAside(draw) {
  const shown = main;
  main = shown.cloneNode(false);
  try {
    await draw();
  } finally {
    const drawn = main;
    main = shown;
    shown.className = drawn.className;
    shown.replaceChildren(...drawn.childNodes);
  }
}

async function boot() {
  try {
    config = await (await fetch('/console/config.json', { credentials: 'same-origin' })).json();
    await loadMe();
  } catch (error) {
    show(h('h1', {}, 'The console could not start'), problemNotice(error));
    return;
  }
  window.addEventListener('hashchange', route);
  opening = true;
  try {
    await route();
  } finally {
    opening = false;
  }
}

boot();
