'use strict';
'require baseclass';
'require rpc';
'require ui';

/*
 * Shared by the nuvol views: the `nuvol` ubus methods, the way their errors
 * become words, and small formatting helpers.
 *
 * Safety rule for every view: text that comes from the daemon, and above all
 * text from other nodes (descriptions, host names, node names), goes into the
 * page only as a text node: E(tag, attrs, [ text ]) or textContent. Never as
 * the string argument of E()/dom.content(), a ui.showModal or
 * ui.addNotification title, or a _() msgid.
 */

// The calls do not use `reject: true`: the daemon sends a message in words
// with a failing status ([status, {error: "..."}]), and rpc.declare only
// gives us that data when it does not reject.
function method(name, params) {
	const fn = rpc.declare({ object: 'nuvol', method: name, params: params || [] });
	return function() {
		return fn.apply(null, arguments).then(function(res) {
			if (typeof res == 'number') {
				if (res === 0)
					return {};
				throw new Error(_('The nuvol daemon could not do "%s": %s').format(name, rpc.getStatusText(res)));
			}
			if (L.isObject(res) && res.error != null) {
				const msg = L.isObject(res.error) ? res.error.message : res.error;
				throw new Error(String(msg));
			}
			if (!L.isObject(res))
				throw new Error(_('The nuvol daemon gave no answer to "%s"').format(name));
			return res;
		});
	};
}

const css = [
	'.nuvol-tiles { display: flex; flex-wrap: wrap; gap: 1em; margin: 1em 0; }',
	'.nuvol-tile { flex: 1 1 16em; max-width: 24em; border: 1px solid #ddd; border-radius: 6px; padding: .8em 1em; display: flex; flex-direction: column; background: #fff; }',
	'.nuvol-tile h3 { margin: 0 0 .4em 0; font-size: 1.1em; }',
	'.nuvol-tile p { flex: 1; margin: 0 0 .6em 0; color: #444; }',
	'.nuvol-tile .nuvol-meta { font-size: .9em; color: #666; margin-bottom: .6em; }',
	'.nuvol-state { display: inline-block; padding: .1em .6em; border-radius: 1em; font-size: .9em; background: #eee; color: #333; }',
	'.nuvol-state-running, .nuvol-state-alive, .nuvol-state-installed { background: #d4f4d2; color: #185c14; }',
	'.nuvol-state-stopped, .nuvol-state-left { background: #eee; color: #555; }',
	'.nuvol-state-failed, .nuvol-state-missing { background: #f8d7da; color: #721c24; }',
	'.nuvol-state-starting, .nuvol-state-stopping { background: #fff3cd; color: #6b5200; }',
	'.nuvol-actions .cbi-button { margin: 0 .2em .2em 0; }',
	'.nuvol-log { max-height: 24em; overflow: auto; background: #222; color: #eee; padding: .6em; white-space: pre-wrap; word-break: break-all; }',
	'.nuvol-search { display: flex; flex-wrap: wrap; gap: .6em; align-items: center; margin: 1em 0; }',
	'.nuvol-search input { min-width: 16em; }',
	'.nuvol-software { font-size: .85em; padding: .1em .5em; border-radius: 3px; background: #e3ecfa; color: #1d3f73; }',
	'.nuvol-software-cloudy { background: #f1e6fa; color: #4b1d73; }',
	'.nuvol-switch { display: inline-flex; align-items: center; gap: .3em; cursor: pointer; }',
	'.nuvol-key { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; }',
	'.nuvol-key input { min-width: 34em; font-family: monospace; }',
	'.nuvol-empty { color: #666; font-style: italic; }',
	'.nuvol-error { color: #a12622; font-size: .9em; margin-top: .3em; max-width: 24em; }'
].join('\n');

return baseclass.extend({
	callStatus: method('status'),
	callCatalog: method('catalog'),
	callList: method('list'),
	callInstall: method('install', [ 'app', 'name', 'port', 'memory' ]),
	callRemove: method('remove', [ 'name' ]),
	callStart: method('start', [ 'name' ]),
	callStop: method('stop', [ 'name' ]),
	callRestart: method('restart', [ 'name' ]),
	callPublish: method('publish', [ 'name' ]),
	callUnpublish: method('unpublish', [ 'name' ]),
	callSearch: method('search', [ 'type', 'host', 'text' ]),
	callNodes: method('nodes'),
	callLogs: method('logs', [ 'name', 'lines' ]),

	// style() returns a <style> element with the app's few rules (as text).
	style: function() {
		return E('style', {}, [ css ]);
	},

	// canChange is false when the user only has the read grant of
	// luci-app-nuvol (the menu node is read-only): change buttons are
	// then disabled rather than failing with "Access denied".
	canChange: function() {
		return L.hasViewPermission() !== false;
	},

	// errorText is what to show for a failed call or load.
	errorText: function(err) {
		if (err == null)
			return _('Unknown error');
		return String(err.message || err);
	},

	// notifyError shows a red banner; the title is ours, the message is text.
	notifyError: function(title, err) {
		return ui.addNotification(title, E('p', {}, [ this.errorText(err) ]), 'danger');
	},

	// formatMiB renders a size in MiB ("64 MiB").
	formatMiB: function(mib) {
		const n = +mib;
		return isFinite(n) && n > 0 ? _('%d MiB').format(n) : '-';
	},

	// formatBytes renders bytes in use ("3.2 MiB").
	formatBytes: function(bytes) {
		let n = +bytes;
		if (!isFinite(n) || n <= 0)
			return '-';
		const units = [ 'B', 'KiB', 'MiB', 'GiB' ];
		let i = 0;
		while (n >= 1024 && i < units.length - 1) {
			n /= 1024;
			i++;
		}
		return '%s %s'.format(i ? n.toFixed(1) : String(n), units[i]);
	},

	// validPort is the port as a number, or null.
	validPort: function(port) {
		const n = +port;
		return (Number.isInteger(n) && n > 0 && n < 65536) ? n : null;
	},

	// appURL builds http://host:port/ for an address that came from a peer or
	// from the browser. It returns null unless host is an IPv4 address, an
	// IPv6 address or a host name, so a peer cannot smuggle in another scheme,
	// a path or credentials.
	appURL: function(host, port) {
		const p = this.validPort(port);
		host = String(host == null ? '' : host).trim();
		if (p == null || host == '')
			return null;
		if (/^\[[0-9a-fA-F:.]+\]$/.test(host))
			return 'http://' + host + ':' + p + '/';
		if (/^[0-9a-fA-F:.]+$/.test(host) && host.indexOf(':') >= 0)
			return 'http://[' + host + ']:' + p + '/';
		if (/^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*$/.test(host) && host.length <= 253)
			return 'http://' + host + ':' + p + '/';
		return null;
	},

	// routerHost is the router's address as this browser reaches it.
	routerHost: function() {
		return window.location.hostname;
	},

	// stateLabel gives a state's words; unknown states show as they are.
	stateLabel: function(state) {
		switch (state) {
		case 'running': return _('Running');
		case 'stopped': return _('Stopped');
		case 'starting': return _('Starting');
		case 'stopping': return _('Stopping');
		case 'frozen': return _('Frozen');
		case 'missing': return _('Missing');
		case 'alive': return _('Alive');
		case 'left': return _('Left');
		case 'failed': return _('Failed');
		case 'leaving': return _('Leaving');
		}
		return String(state == null ? '' : state);
	},

	// stateBadge is a coloured label; the class only takes safe characters.
	stateBadge: function(state) {
		const cls = String(state || 'unknown').replace(/[^a-z0-9_-]/gi, '');
		return E('span', { 'class': 'nuvol-state nuvol-state-' + cls, 'data-state': cls }, [ this.stateLabel(state) ]);
	},

	// softwareBadge says whether a peer runs nuvol or Cloudy.
	softwareBadge: function(software) {
		const nuvol = software == 'nuvol';
		return E('span', { 'class': 'nuvol-software' + (nuvol ? '' : ' nuvol-software-cloudy') },
			[ nuvol ? _('nuvol') : _('Cloudy') ]);
	},

	// newKey makes a gossip encryption key as `serf keygen` does: 32 random
	// bytes, standard base64.
	newKey: function() {
		const buf = new Uint8Array(32);
		window.crypto.getRandomValues(buf);
		let bin = '';
		for (let i = 0; i < buf.length; i++)
			bin += String.fromCharCode(buf[i]);
		return window.btoa(bin);
	},

	// checkKey validates an encryption key: empty, or base64 of 16, 24 or 32 bytes.
	checkKey: function(value) {
		if (value == null || value === '')
			return true;
		let bin;
		try {
			if (!/^[A-Za-z0-9+\/]+={0,2}$/.test(value))
				throw new Error();
			bin = window.atob(value);
		}
		catch (e) {
			return _('The key must be base64, as "serf keygen" or the button makes it');
		}
		if (bin.length != 16 && bin.length != 24 && bin.length != 32)
			return _('The key must be 16, 24 or 32 bytes long (it is %d)').format(bin.length);
		return true;
	}
});
