// The web page end to end in headless Chromium, driven by playwright-core (run by
// crates/trove/tests/web.rs against a real `trove serve`): log in, search and open a result,
// ask a question and a follow-up and open a citation, sync a source, edit a memory, retry a dead job, read the health page, create an API key
// and, after a reload (the CSRF token must come back from /v1/auth/me), revoke it.
// Prints one JSON line of findings for the Rust test to check; exits non-zero on a failure.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('TROVE_URL');
const deadJob = process.env.TROVE_DEAD_JOB || ''; // the main phase needs it
const shots = process.env.TROVE_SCREENSHOTS || '';
const require = createRequire(path.join(env('TROVE_WEB_E2E'), 'x.js'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.TROVE_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  timeout: 60_000,
});
const found = {};
// `reset`: only the second half of the password-reset flow, with the token the test read from
// the server's log (the development mailer writes mail there).
const phase = process.env.TROVE_PHASE || 'main';
const consoleErrors = [];
const pageErrors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  const shot = async (name) => {
    if (shots) await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
  };
  const see = (selector) => page.locator(selector).first().waitFor({ state: 'visible' });
  // axe-core's WCAG 2.1 A and AA rules on the page as it is now; serious and critical
  // violations are collected per page.
  const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  found.accessibility = {};
  const audit = async (name) => {
    await page.evaluate(axeSource);
    const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }));
    found.accessibility[name] = result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
  };

  if (phase === 'reset') {
    await page.goto(`${url}#/reset?token=${env('TROVE_RESET_TOKEN')}`);
    await page.getByLabel('New password').fill('a brand new passphrase');
    await page.getByRole('button', { name: 'Set password' }).click();
    await see('.notice');
    found.reset = await page.locator('.notice').innerText();
    await page.getByRole('link', { name: 'Log in' }).click();
    await page.getByLabel('Email').fill(env('TROVE_EMAIL'));
    await page.getByLabel('Password').fill('a brand new passphrase');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('navigation', { name: 'Sections' }).waitFor();
    found.logged_in_after_reset = true;
    // The invitation mailed from the admin page: a new account joins with a password.
    // Opened in the tab that shows the page already (a hash change: what was typed must stay).
    await page.goto(`${url}#/invite?token=${env('TROVE_INVITE_TOKEN')}`);
    await page.getByLabel('Password for your new account').fill('the newcomer passphrase');
    await page.getByRole('button', { name: 'Accept the invitation' }).click();
    await see('.notice');
    found.joined = await page.locator('.notice').innerText();
    found.page_errors = pageErrors;
    console.log(JSON.stringify(found));
    await browser.close();
    process.exit(0);
  }
  // Log in.
  await page.goto(url);
  await page.getByLabel('Email').waitFor();
  found.first_contentful_paint_ms = await page.evaluate(() => {
    const e = performance.getEntriesByName('first-contentful-paint')[0];
    return e ? Math.round(e.startTime) : null;
  });
  await page.getByLabel('Password').fill('wrong password, surely');
  await page.getByLabel('Email').fill(env('TROVE_EMAIL'));
  await page.getByRole('button', { name: 'Log in' }).click();
  await see('.error-box');
  found.bad_login = await page.locator('.error-box').innerText();
  found.bad_login_link = await page.locator('.error-box a').getAttribute('href');
  await page.getByLabel('Password').fill(env('TROVE_PASSWORD'));
  await shot('login');
  await audit('login');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();

  // Search, then open the first result.
  await page.getByLabel('Search', { exact: true }).fill('database runs out of connections');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await see('.hit mark');
  found.hits = await page.locator('.hit').count();
  found.first_hit = await page.locator('.hit h3').first().innerText();
  await shot('search');
  await audit('search');
  // A metadata filter (HTML meta of the sample's onboarding page) narrows the hits.
  await page.getByLabel('Metadata').fill('lang=en');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForFunction(() => location.hash.includes('meta=lang'));
  await see('.hit');
  found.filtered_uris = await page.locator('.hit .meta .mono').allInnerTexts();
  await page.goBack();
  await page.waitForFunction(() => !location.hash.includes('meta='));
  await see('.hit mark');
  await page.locator('.hit h3 a').first().click();
  await see('.chunks li.target');
  found.document_title = await page.locator('main h1').innerText();
  await shot('document');
  await audit('document');

  // Ask: a streamed answer with clickable citations, a follow-up in the same conversation,
  // the conversation listed and its history shown again when opened.
  await page.getByRole('link', { name: 'Ask', exact: true }).click();
  await page.getByLabel('Question').fill('what happens when the database runs out of connections?');
  await page.getByRole('button', { name: 'Ask', exact: true }).click();
  await see('.turn[data-done="true"]');
  found.answer = await page.locator('.turn .answer').first().innerText();
  found.answer_citations = await page.locator('.turn .citations li').count();
  await page.waitForFunction(() => location.hash.startsWith('#/ask/cnv_'));
  found.conversation = decodeURIComponent(await page.evaluate(() => location.hash.slice('#/ask/'.length)));
  await page.getByLabel('Question').fill('and how do I fix it?');
  await page.getByRole('button', { name: 'Ask', exact: true }).click();
  await page.locator('.turn[data-done="true"]').nth(1).waitFor();
  found.rewritten_shown = await page.locator('.turn').nth(1).locator('p.muted').innerText();
  await page.locator('.conversations a', { hasText: 'database runs out' }).waitFor();
  await shot('ask');
  await audit('ask');
  // Reopened, the conversation shows both turns; a citation opens its chunk.
  await page.goto(`${url}#/search`);
  await see('main h1');
  await page.goto(`${url}#/ask/${encodeURIComponent(found.conversation)}`);
  await page.locator('.turn').nth(1).waitFor();
  found.history_turns = await page.locator('.turn').count();
  await page.locator('.turn .citations a').first().click();
  await see('.chunks li.target');
  found.cited_document = await page.locator('main h1').innerText();

  // Sources: counts and a sync.
  await page.getByRole('link', { name: 'Sources' }).click();
  await see('main table tbody tr');
  await page.getByRole('button', { name: 'Sync docs' }).click();
  await page.locator('#toast', { hasText: 'queued as job_' }).waitFor();
  await shot('sources');
  await audit('sources');

  // Memories: edit one.
  await page.getByRole('link', { name: 'Memories' }).click();
  await see('.memory-text');
  await shot('memories');
  await audit('memories');
  await page.getByRole('button', { name: 'Edit' }).first().click();
  await page.getByLabel('Text').fill('Ada prefers tea, not coffee (edited in the browser)');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.memory-text', { hasText: 'edited in the browser' }).waitFor();

  // Jobs: the dead job is listed with its error; retry it.
  await page.getByRole('link', { name: 'Jobs' }).click();
  const row = page.locator(`tr[data-job="${deadJob}"]`, { has: page.locator('.s-dead') });
  await row.waitFor();
  found.dead_error = await row.locator('td').nth(5).innerText();
  await shot('jobs');
  await audit('jobs');
  await page.getByRole('button', { name: `Retry ${deadJob}` }).click();
  await page.locator('#toast', { hasText: `${deadJob} is queued again` }).waitFor();

  // Health: components and, after a few samples, charts.
  await page.getByRole('link', { name: 'Health' }).click();
  // The components table comes with the "Overall" line, after /health answers; waiting for any
  // table row could still match the Jobs page's rows before the Health page renders.
  await see('main p:has-text("Overall")');
  found.health_components = await page.locator('main table tbody tr').count();
  await page.waitForFunction(() => document.querySelectorAll('svg.chart polyline').length >= 4, null, { timeout: 20_000 });
  await shot('health');
  await audit('health');

  // Admin: create a key (shown once), reload, revoke it.
  await page.getByRole('link', { name: 'Admin' }).click();
  // A team, granted the vault.
  await page.getByLabel('New team').fill('support');
  await page.getByRole('button', { name: 'Create team' }).click();
  await page.locator('tr[data-team="support"]').waitFor();
  await page.getByLabel('Grant to').fill('support');
  await page.getByLabel('Which is a').selectOption('team');
  await page.getByLabel('Level', { exact: true }).selectOption('write');
  await page.getByRole('button', { name: 'Grant', exact: true }).click();
  await page.locator('tr[data-grant="support"]', { hasText: 'write' }).waitFor();
  await page.getByLabel('Invite by email').fill('newcomer@acme.test');
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await page.locator('tr[data-invitation]', { hasText: 'newcomer@acme.test' }).locator('.s-pending').waitFor();
  await page.getByLabel('New key name').fill('e2e-bot');
  await page.getByRole('button', { name: 'Create key' }).click();
  await see('#new-key');
  found.key = await page.locator('#new-key').innerText();
  await shot('admin');
  await audit('admin');
  await page.reload();
  await page.getByRole('button', { name: 'Revoke e2e-bot' }).click();
  await page.locator('tr', { hasText: 'e2e-bot' }).locator('.error', { hasText: 'revoked' }).waitFor();
  found.key_shown_again = (await page.content()).includes(found.key);
  // First paint again, with the browser warm (the first figure includes its start-up).
  const fresh = await context.newPage();
  await fresh.goto(url);
  await fresh.locator('main').waitFor();
  found.warm_first_contentful_paint_ms = await fresh.evaluate(() => new Promise((done) => {
    const e = performance.getEntriesByName('first-contentful-paint')[0];
    if (e) done(Math.round(e.startTime));
    else new PerformanceObserver((l) => done(Math.round(l.getEntries()[0].startTime))).observe({ type: 'paint', buffered: true });
  }));
  // Log out, and ask for a password reset.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Email').fill(env('TROVE_EMAIL'));
  await page.getByRole('button', { name: 'Mail me a reset link' }).click();
  await see('.notice');
  found.reset_requested = await page.locator('.notice').innerText();
  found.console_errors = consoleErrors;
  found.page_errors = pageErrors;
} catch (e) {
  // What the page showed when a step failed, for the test's failure message.
  const page = browser.contexts()[0]?.pages()[0];
  if (page) {
    console.error(`page at ${page.url()} showed:\n${await page.locator('body').innerText().catch(() => '?')}`);
    console.error(`console errors: ${JSON.stringify(consoleErrors)}; page errors: ${JSON.stringify(pageErrors)}`);
  }
  throw e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(found));
