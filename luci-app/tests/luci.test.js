'use strict';
/*
 * Browser test of luci-app-nuvol: headless Chromium (the system's, through
 * playwright-core) drives the real views, served by src/cmd/luci-harness in
 * front of two running nuvol daemons with real containers. run.sh sets it up
 * and passes the addresses in the environment:
 *
 *   LUCI_A_URL, LUCI_B_URL    the harness of daemon A and of daemon B
 *   NUVOL_A_SOCKET, NUVOL_B_SOCKET   their control sockets
 *   NUVOL_A_NODE              A's node name; NUVOL_A_CONFIG its UCI file
 *   CLOUDY_PID                a plain serf agent (a Cloudy node) whose
 *                             services tag holds an HTML injection attempt
 *   APP_PORT                  a free loopback port for the app
 *   OUT                       where screenshots go
 */
const { test, after, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const env = process.env;
const A = env.LUCI_A_URL, B = env.LUCI_B_URL;
const OUT = env.OUT || path.join(__dirname, 'out');
const APP = 'static-web', NAME = 'luciweb', PORT = +env.APP_PORT;
const XSS = '<img src=x onerror=alert(1)>';

let ctx, page, dialogs = [], pageErrors = [];

// sock calls a daemon's control socket, as the CLI does.
function sock(socketPath, method, args) {
	return new Promise((resolve, reject) => {
		const c = net.connect(socketPath);
		let buf = '';
		c.setTimeout(60000, () => { c.destroy(); reject(new Error(method + ': timeout')); });
		c.on('connect', () => c.write(JSON.stringify({ method, args: args || {} }) + '\n'));
		c.on('data', d => {
			buf += d;
			const i = buf.indexOf('\n');
			if (i < 0) return;
			c.end();
			const r = JSON.parse(buf.slice(0, i));
			r.error ? reject(new Error(r.error.message)) : resolve(r.result);
		});
		c.on('error', reject);
	});
}

function httpGet(url) {
	return new Promise((resolve, reject) => {
		http.get(url, res => {
			let body = '';
			res.on('data', d => body += d);
			res.on('end', () => resolve({ status: res.statusCode, body }));
		}).on('error', reject);
	});
}

function portFree(port) {
	return new Promise(resolve => {
		const srv = net.createServer().once('error', () => resolve(false));
		srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
	});
}

async function shot(name) {
	await page.screenshot({ path: path.join(OUT, name + '.png'), fullPage: true });
}

async function open(base, view, user) {
	await page.goto(base + '/cgi-bin/luci/admin/services/nuvol/' + view);
	if (await page.locator('#luci_password').count()) {
		await page.fill('#luci_username', user || 'root');
		await page.fill('#luci_password', 'nuvol');
		await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
	}
	// The view replaced its "Loading view…" spinner.
	await page.waitForFunction(() => document.querySelector('#view > .spinning') == null && document.querySelector('#view').children.length > 0);
}

let profile;

before(async () => {
	fs.mkdirSync(OUT, { recursive: true });
	profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nuvol-chromium-'));
	ctx = await chromium.launchPersistentContext(profile, {
		executablePath: env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		viewport: { width: 1280, height: 860 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	page = ctx.pages()[0] || await ctx.newPage();
	page.setDefaultTimeout(30000);
	page.on('dialog', d => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
	page.on('pageerror', e => pageErrors.push(e.message));
});

after(async () => {
	if (ctx) await ctx.close();
	// The browser profile is a fresh directory each run: leave none behind.
	if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

test('the stand-in keeps LuCI\'s semantics the escaping relies on', async () => {
	await open(A, 'apps');
	const r = await page.evaluate(() => ({
		stringIsHTML: E('p', {}, '<b>x</b>').querySelector('b') != null,
		arrayIsText: E('p', {}, ['<b>x</b>']).querySelector('b') == null,
		lostAttrs: E('div', E('span')).children.length == 0,
		format: '%h|%d|%s'.format('<a>', 3.7, 'x'),
	}));
	assert.deepEqual(r, { stringIsHTML: true, arrayIsText: true, lostAttrs: true, format: '&#60;a&#62;|3|x' });
});

test('Apps shows the catalog as tiles with memory and an Install button', async () => {
	await open(A, 'apps');
	const tile = page.locator('.nuvol-tile[data-app="' + APP + '"]');
	await tile.waitFor();
	assert.match(await tile.locator('h3').textContent(), /\S/);
	assert.match(await tile.textContent(), /Needs \d+ MiB of memory/);
	assert.equal(await tile.locator('button.nuvol-install').count(), 1);
	await shot('1-apps');
});

// One click, with the catalog's defaults. The default port is fixed, so the
// test only runs when that port is free on this machine.
test('one-click Install runs an app with the catalog defaults', async (t) => {
	const cat = await sock(env.NUVOL_A_SOCKET, 'catalog');
	const app = cat.apps.find(a => a.id == 'file-share');
	if (!app || !(await portFree(app.port)))
		return t.skip('file-share\'s default port ' + (app && app.port) + ' is in use here');
	const tile = page.locator('.nuvol-tile[data-app="file-share"]');
	await tile.locator('button.nuvol-install').click();
	await page.locator('#maincontent .alert-message', { hasText: 'is installed as "' }).waitFor({ timeout: 90000 });
	await tile.locator('.nuvol-state-installed').waitFor();
	const list = await sock(env.NUVOL_A_SOCKET, 'list');
	const got = list.apps.find(a => a.app == 'file-share');
	assert.equal(got.state, 'running');
	assert.equal(got.port, app.port);
	assert.equal((await httpGet('http://127.0.0.1:' + app.port + '/')).status, 200);
	await sock(env.NUVOL_A_SOCKET, 'remove', { name: got.name });
	await page.locator('#maincontent .alert-message button', { hasText: 'Dismiss' }).first().click();
});

test('Install (with a free port) shows progress and the app ends up running', async () => {
	const tile = page.locator('.nuvol-tile[data-app="' + APP + '"]');
	await tile.locator('button.nuvol-options').click();
	await page.fill('#nuvol-opt-name', NAME);
	await page.fill('#nuvol-opt-port', String(PORT));
	await page.click('#nuvol-opt-install');
	// The progress dialog, then the outcome in words.
	await page.locator('#modal_overlay .modal .spinning').waitFor();
	await shot('2-installing');
	const note = page.locator('#maincontent .alert-message', { hasText: 'is installed as "' + NAME + '"' });
	await note.waitFor({ timeout: 90000 });
	assert.match(await note.textContent(), /running/);
	await tile.locator('.nuvol-state-installed').waitFor();
	await shot('3-installed');

	const list = await sock(env.NUVOL_A_SOCKET, 'list');
	const app = list.apps.find(a => a.name == NAME);
	assert.ok(app, 'the daemon lists the app');
	assert.equal(app.state, 'running');
	assert.equal(app.port, PORT);
	const res = await httpGet('http://127.0.0.1:' + PORT + '/');
	assert.equal(res.status, 200, 'the app serves its page');
});

test('a failed install shows the error in words', async () => {
	const tile = page.locator('.nuvol-tile[data-app="' + APP + '"]');
	await tile.locator('button.nuvol-options').click();
	await page.fill('#nuvol-opt-name', NAME + '2');
	await page.fill('#nuvol-opt-port', String(PORT)); // taken by the first one
	await page.click('#nuvol-opt-install');
	const err = page.locator('#maincontent .alert-message.danger', { hasText: 'could not be installed' });
	await err.waitFor({ timeout: 30000 });
	assert.match(await err.textContent(), new RegExp(String(PORT)));
	await shot('4-install-error');
	await err.locator('button', { hasText: 'Dismiss' }).click();
	const list = await sock(env.NUVOL_A_SOCKET, 'list');
	assert.equal(list.apps.filter(a => a.name == NAME + '2').length, 0);
});

test('My apps shows state, port, memory in use, Open link and the log', async () => {
	await open(A, 'myapps');
	const row = page.locator('tr[data-name="' + NAME + '"]');
	await row.locator('.nuvol-state[data-state="running"]').waitFor();
	assert.equal(await row.locator('td').nth(2).textContent(), String(PORT));
	assert.match(await row.locator('td').nth(3).textContent(), /\d(\.\d)? [KM]iB/, 'memory in use');
	const href = await row.locator('a.nuvol-open').getAttribute('href');
	assert.equal(href, 'http://' + new URL(A).hostname + ':' + PORT + '/');
	await row.locator('button[data-action="handleLog"]').click();
	await page.locator('#modal_overlay pre.nuvol-log').waitFor();
	await shot('5-log');
	await page.locator('#modal_overlay button', { hasText: 'Close' }).click();
});

test('Stop, Start and Restart change the state', async () => {
	const row = page.locator('tr[data-name="' + NAME + '"]');
	await row.locator('button[data-action="handleStop"]').click();
	await row.locator('.nuvol-state[data-state="stopped"]').waitFor({ timeout: 60000 });
	assert.equal(await row.locator('a.nuvol-open').count(), 0, 'no Open link while stopped');
	await row.locator('button[data-action="handleStart"]').click();
	await row.locator('.nuvol-state[data-state="running"]').waitFor({ timeout: 60000 });
	await row.locator('button[data-action="handleRestart"]').click();
	await row.locator('.nuvol-state[data-state="running"]').waitFor({ timeout: 60000 });
	await row.locator('button[data-action="handleRestart"]:not([disabled])').waitFor();
});

test('Publish on A puts the app in B\'s Community page', async () => {
	const row = page.locator('tr[data-name="' + NAME + '"]');
	await row.locator('input.nuvol-publish').check();
	await page.waitForFunction(n => {
		const box = document.querySelector('tr[data-name="' + n + '"] input.nuvol-publish');
		return box && box.checked && !box.disabled;
	}, NAME);
	const list = await sock(env.NUVOL_A_SOCKET, 'list');
	assert.equal(list.apps.find(a => a.name == NAME).publish, true);
	await shot('6-myapps-published');

	await open(B, 'community');
	const svc = page.locator('tr.nuvol-service[data-node="' + env.NUVOL_A_NODE + '"]');
	await svc.first().waitFor({ timeout: 45000 });
	assert.equal(await svc.first().locator('td').nth(3).textContent(), String(PORT));
	assert.equal(await svc.first().locator('td').nth(5).textContent(), 'nuvol');
	assert.equal(await svc.first().locator('a.nuvol-open').getAttribute('href'), 'http://127.0.0.1:' + PORT + '/');
	await shot('7-community-b');
});

test('a peer\'s description with HTML appears as text: no img element, no dialog', async () => {
	const evil = page.locator('tr.nuvol-service', { hasText: 'onerror' });
	await evil.first().waitFor({ timeout: 45000 });
	assert.equal(await evil.first().locator('.nuvol-description').textContent(), XSS);
	assert.equal(await page.locator('#view img, #view svg, #view b').count(), 0);
	// The other Cloudy service: markup in its type and host stays text, and
	// its javascript: "address" gets no Open link.
	const odd = page.locator('.nuvol-group[data-type="<svg onload=alert(2)>"]');
	await odd.waitFor();
	assert.equal(await odd.locator('h3').textContent(), '<svg onload=alert(2)>');
	assert.match(await odd.locator('tr.nuvol-service').textContent(), /<b>bold<\/b>/);
	assert.equal(await odd.locator('a').count(), 0);
	assert.equal(await page.locator('a[href^="javascript"]').count(), 0);
	assert.match(await evil.first().textContent(), /Cloudy/);
	// Give a would-be onerror handler time to fire.
	await page.waitForTimeout(500);
	assert.deepEqual(dialogs, []);
	await shot('8-community-untrusted-text');
});

test('the type filter and the search box narrow the results', async () => {
	await page.selectOption('#nuvol-search-type', 'web');
	await page.waitForFunction(() => [...document.querySelectorAll('.nuvol-group')].every(g => g.dataset.type == 'web'));
	await page.selectOption('#nuvol-search-type', '');
	await page.fill('#nuvol-search-text', 'no-such-service-anywhere');
	await page.click('#nuvol-search-go');
	await page.locator('#nuvol-results .nuvol-empty').waitFor();
	await page.fill('#nuvol-search-text', '');
	await page.click('#nuvol-search-go');
	await page.locator('tr.nuvol-service').first().waitFor();
});

test('Nodes lists the members with status and address', async () => {
	await open(B, 'nodes');
	const a = page.locator('#nuvol-members tr[data-node="' + env.NUVOL_A_NODE + '"]');
	await a.waitFor({ timeout: 30000 });
	assert.match(await a.textContent(), /127\.0\.0\.1:\d+/);
	await a.locator('.nuvol-state[data-state="alive"]').waitFor();
	await page.locator('#nuvol-not-fitted').waitFor();
	await shot('9-nodes');
});

test('a node that goes away disappears from Community', async () => {
	await open(B, 'community');
	await page.locator('tr.nuvol-service', { hasText: 'onerror' }).first().waitFor({ timeout: 30000 });
	process.kill(+env.CLOUDY_PID, 'SIGINT'); // the Cloudy node leaves
	await page.locator('tr.nuvol-service', { hasText: 'onerror' }).first().waitFor({ state: 'detached', timeout: 45000 });
	await page.locator('tr.nuvol-service[data-node="' + env.NUVOL_A_NODE + '"]').first().waitFor();
});

test('Remove asks first, then the app and its directory entry are gone', async () => {
	await open(A, 'myapps');
	const row = page.locator('tr[data-name="' + NAME + '"]');
	await row.locator('button[data-action="handleRemove"]').click();
	await page.locator('#nuvol-confirm-remove').waitFor();
	await shot('11-remove-confirm');
	await page.click('#nuvol-confirm-remove');
	await row.waitFor({ state: 'detached', timeout: 60000 });
	const list = await sock(env.NUVOL_A_SOCKET, 'list');
	assert.equal(list.apps.filter(a => a.name == NAME).length, 0);

	await open(B, 'community');
	await page.locator('tr.nuvol-service[data-node="' + env.NUVOL_A_NODE + '"]').first().waitFor({ state: 'detached', timeout: 45000 });
});

// Last, because a new key and cloud name in A's file would split A from B
// if A re-read it.
test('Settings: a new encryption key, Save & Apply writes /etc/config/nuvol', async () => {
	await open(A, 'settings');
	const key = page.locator('#cbid\\.nuvol\\.main\\.encrypt_key');
	await key.waitFor();
	assert.equal(await page.inputValue('#cbid\\.nuvol\\.main\\.node_name'), env.NUVOL_A_NODE);
	await page.click('#nuvol-new-key');
	const value = await key.inputValue();
	assert.equal(Buffer.from(value, 'base64').length, 32);
	await page.fill('#cbid\\.nuvol\\.main\\.bind_port', 'not-a-port');
	await page.locator('#cbid\\.nuvol\\.main\\.bind_port.cbi-input-invalid').waitFor();
	await page.fill('#cbid\\.nuvol\\.main\\.bind_port', await page.getAttribute('#cbid\\.nuvol\\.main\\.bind_port', 'value'));
	await page.fill('#cbid\\.nuvol\\.main\\.cloud_name', 'luci-test');
	await shot('10-settings');
	await Promise.all([
		page.waitForNavigation({ timeout: 30000 }),
		page.click('.cbi-page-actions button.cbi-button-apply'),
	]);
	const conf = fs.readFileSync(env.NUVOL_A_CONFIG, 'utf8');
	assert.match(conf, new RegExp("option encrypt_key '" + value.replace(/[+/=]/g, c => '\\' + c) + "'"));
	assert.match(conf, /option cloud_name 'luci-test'/);
	assert.match(conf, /option lxc_path '\//, 'options the form did not touch stay');
	assert.match(conf, /list join '127\.0\.0\.1:\d+'/, 'the join list stays a list');
});

test('the read grant can read but not change (acl.d)', async () => {
	const r = await page.evaluate(async () => {
		const call = (sid, obj, m, args) => fetch('/ubus/', { method: 'POST', headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'call', params: [sid, obj, m, args || {}] }) }).then(x => x.json());
		const login = await call('00000000000000000000000000000000', 'session', 'login', { username: 'viewer', password: 'nuvol' });
		const sid = login.result[1].ubus_rpc_session;
		return {
			list: await call(sid, 'nuvol', 'list'),
			install: await call(sid, 'nuvol', 'install', { app: 'static-web' }),
			uciGet: await call(sid, 'uci', 'get', { config: 'nuvol' }),
			uciSet: await call(sid, 'uci', 'set', { config: 'nuvol', section: 'main', values: { cloud_name: 'x' } }),
		};
	});
	assert.equal(r.list.result[0], 0);
	assert.equal(r.install.error.code, -32002);
	assert.equal(r.uciGet.result[0], 0);
	assert.deepEqual(r.uciSet.result, [6]);
});

// Informational: how long each page takes from navigation to a rendered
// view against a real daemon (printed, never asserted).
test('page load times', async (t) => {
	for (const view of ['apps', 'myapps', 'community', 'nodes', 'settings']) {
		const t0 = Date.now();
		await open(A, view);
		t.diagnostic(view + ': ' + (Date.now() - t0) + ' ms to a rendered view');
	}
});

test('a read-only user sees the pages with every change disabled', async () => {
	await ctx.clearCookies();
	await open(B, 'apps', 'viewer');
	await page.locator('.nuvol-tile').first().waitFor();
	assert.equal(await page.locator('button.nuvol-install:not([disabled])').count(), 0);
	await open(B, 'settings');
	await page.locator('#cbid\\.nuvol\\.main\\.cloud_name[disabled]').waitFor();
	assert.equal(await page.locator('.cbi-page-actions button:not([disabled])').count(), 0);
	await open(B, 'community');
	await page.locator('#nuvol-results').waitFor();
});

test('no script error and no dialog on any page', () => {
	assert.deepEqual(pageErrors, []);
	assert.deepEqual(dialogs, []);
});
