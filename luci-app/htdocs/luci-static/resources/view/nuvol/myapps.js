'use strict';
'require view';
'require dom';
'require poll';
'require ui';
'require nuvol.common as common';

// My apps: the installed apps with their state and the buttons to run them.

return view.extend({
	handleSave: null,
	handleSaveApply: null,
	handleReset: null,

	load: function() {
		return common.callList().catch(function(err) { return err; });
	},

	// act runs one method on an app and reports the outcome.
	act: function(call, failTitle, name) {
		return call(name).catch(function(err) {
			common.notifyError(failTitle, err);
		}).then(L.bind(this.refresh, this));
	},

	handleStart: function(name) { return this.act(common.callStart, _('The app could not be started'), name); },
	handleStop: function(name) { return this.act(common.callStop, _('The app could not be stopped'), name); },
	handleRestart: function(name) { return this.act(common.callRestart, _('The app could not be restarted'), name); },

	handleRemove: function(name) {
		const self = this;
		return new Promise(function(resolve) {
			const done = function(ev) { ui.hideModal(); resolve(); };
			ui.showModal(_('Remove the app?'), [
				E('p', {}, [ _('Remove "%s"? Its container and everything stored in it are deleted. This cannot be undone.').format(name) ]),
				E('div', { 'class': 'right' }, [
					E('button', { 'class': 'cbi-button', 'click': done }, [ _('Cancel') ]), ' ',
					E('button', {
						'class': 'cbi-button cbi-button-negative important',
						'id': 'nuvol-confirm-remove',
						'click': function(ev) {
							ev.target.disabled = true;
							dom.content(ev.target, [ _('Removing…') ]);
							self.act(common.callRemove, _('The app could not be removed'), name).then(done);
						}
					}, [ _('Remove') ])
				])
			]);
		});
	},

	handlePublish: function(name, ev) {
		const box = ev.currentTarget, on = box.checked;
		box.disabled = true;
		box.classList.add('nuvol-busy');
		return (on ? common.callPublish(name) : common.callUnpublish(name)).catch(function(err) {
			box.checked = !on;
			common.notifyError(on ? _('The app could not be published') : _('The app could not be unpublished'), err);
		}).then(L.bind(function() {
			box.disabled = false;
			box.classList.remove('nuvol-busy');
			return this.refresh();
		}, this));
	},

	handleLog: function(name) {
		return common.callLogs(name, 200).then(function(res) {
			const lines = Array.isArray(res.lines) ? res.lines : [];
			ui.showModal(_('Log of the app'), [
				E('h5', {}, [ name ]),
				E('pre', { 'class': 'nuvol-log' }, [ lines.length ? lines.join('\n') : _('The log is empty.') ]),
				E('div', { 'class': 'right' }, [ E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Close') ]) ])
			]);
		}).catch(function(err) {
			common.notifyError(_('The log could not be read'), err);
		});
	},

	renderRow: function(app) {
		const running = app.state == 'running';
		const url = common.appURL(common.routerHost(), app.port);
		const btn = L.bind(function(label, style, fn, show) {
			const readOnly = fn != 'handleLog' && !common.canChange();
			return show ? E('button', { 'class': 'cbi-button cbi-button-' + style, 'data-action': fn,
				'disabled': readOnly ? '' : null,
				'click': ui.createHandlerFn(this, fn, app.name) }, [ label ]) : '';
		}, this);
		const publish = E('input', { 'type': 'checkbox', 'class': 'nuvol-publish',
			'disabled': common.canChange() ? null : '',
			'change': L.bind(function(ev) { return this.handlePublish(app.name, ev); }, this) });
		publish.checked = !!app.publish;
		let pubNote = '';
		if (app.publish && !app.published)
			pubNote = E('div', { 'class': 'cbi-value-description' }, [ running ? _('not in the directory yet') : _('shown when it runs') ]);

		return E('tr', { 'class': 'tr', 'data-name': app.name }, [
			E('td', { 'class': 'td' }, [
				E('strong', {}, [ app.name ]), E('br'),
				E('small', {}, [ app.description || app.app || '' ])
			]),
			E('td', { 'class': 'td' }, [
				common.stateBadge(app.state),
				app.error ? E('div', { 'class': 'nuvol-error' }, [ _('Last start failed: %s').format(app.error) ]) : ''
			]),
			E('td', { 'class': 'td' }, [ app.port ? String(app.port) : '-' ]),
			E('td', { 'class': 'td' }, [
				running ? common.formatBytes(app.memory_used) : '-',
				E('small', {}, [ ' / ' + common.formatMiB(app.memory) ])
			]),
			E('td', { 'class': 'td' }, [
				E('label', { 'class': 'nuvol-switch' }, [ publish, _('Publish') ]), pubNote
			]),
			E('td', { 'class': 'td' }, [
				(running && url) ? E('a', { 'class': 'cbi-button cbi-button-link nuvol-open', 'href': url,
					'target': '_blank', 'rel': 'noopener noreferrer' }, [ _('Open') ]) : '-'
			]),
			E('td', { 'class': 'td nuvol-actions' }, [
				btn(_('Start'), 'positive', 'handleStart', !running),
				btn(_('Stop'), 'neutral', 'handleStop', running),
				btn(_('Restart'), 'action', 'handleRestart', running),
				btn(_('Log'), 'neutral', 'handleLog', true),
				btn(_('Remove'), 'negative', 'handleRemove', true)
			])
		]);
	},

	renderTable: function(res) {
		if (res instanceof Error)
			return E('p', { 'class': 'nuvol-empty' }, [ _('The installed apps could not be read: %s').format(common.errorText(res)) ]);
		const apps = (res && Array.isArray(res.apps)) ? res.apps : [];
		if (!apps.length)
			return E('p', { 'class': 'nuvol-empty' }, [ _('No app is installed yet. Pick one under Apps.') ]);
		return E('table', { 'class': 'table', 'id': 'nuvol-myapps' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, [ _('App') ]),
				E('th', { 'class': 'th' }, [ _('State') ]),
				E('th', { 'class': 'th' }, [ _('Port') ]),
				E('th', { 'class': 'th' }, [ _('Memory in use') ]),
				E('th', { 'class': 'th' }, [ _('Community') ]),
				E('th', { 'class': 'th' }, [ _('Open') ]),
				E('th', { 'class': 'th' }, [ _('Actions') ])
			])
		].concat(apps.map(L.bind(this.renderRow, this))));
	},

	refresh: function() {
		return common.callList().catch(function(err) { return err; }).then(L.bind(function(res) {
			// Do not redraw under an open dialog or a button that is busy.
			if (document.body.classList.contains('modal-overlay-active') || this.box.querySelector('.spinning, .nuvol-busy'))
				return;
			dom.content(this.box, [ this.renderTable(res) ]);
		}, this));
	},

	render: function(res) {
		this.box = E('div', { 'class': 'cbi-section' }, [ this.renderTable(res) ]);
		poll.add(L.bind(this.refresh, this), 5);
		return E('div', { 'class': 'cbi-map' }, [
			common.style(),
			E('h2', {}, [ _('My apps') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('The apps installed on this router. Publish an app to list it in the community, so other nodes can find and open it.') ]),
			this.box
		]);
	}
});
