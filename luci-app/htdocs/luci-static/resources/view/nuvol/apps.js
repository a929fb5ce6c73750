'use strict';
'require view';
'require dom';
'require poll';
'require ui';
'require nuvol.common as common';

// Apps: the catalog as tiles, each installable with one click.

return view.extend({
	handleSave: null,
	handleSaveApply: null,
	handleReset: null,

	load: function() {
		return common.callCatalog().catch(function(err) { return err; });
	},

	// handleInstall installs with the catalog's defaults; opts may give a
	// name, port and memory (from the Options dialog).
	handleInstall: function(app, opts) {
		opts = (opts && !(opts instanceof Event)) ? opts : {};
		ui.showModal(_('Installing an app'), [
			E('p', { 'class': 'spinning' }, [ _('Installing %s. Preparing its files and starting it can take a minute…').format(app.name || app.id) ])
		]);
		return common.callInstall(app.id, opts.name, opts.port, opts.memory).then(L.bind(function(res) {
			ui.hideModal();
			ui.addNotification(null, E('p', {}, [
				_('%s is installed as "%s" and is %s.').format(app.name || app.id, res.name, common.stateLabel(res.state).toLowerCase()), ' ',
				E('a', { 'href': L.url('admin/services/nuvol/myapps') }, [ _('Go to My apps') ])
			]), 'info');
			return this.refresh();
		}, this)).catch(L.bind(function(err) {
			ui.hideModal();
			common.notifyError(_('The app could not be installed'), err);
			return this.refresh();
		}, this));
	},

	// handleOptions asks for a name, port and memory limit before installing.
	handleOptions: function(app) {
		const name = new ui.Textfield('', { id: 'nuvol-opt-name', datatype: 'uciname', placeholder: app.id.replace(/[^A-Za-z0-9_]/g, '_') });
		const port = new ui.Textfield('', { id: 'nuvol-opt-port', datatype: 'port', placeholder: app.port ? String(app.port) : '' });
		const memory = new ui.Textfield('', { id: 'nuvol-opt-memory', datatype: 'uinteger', placeholder: app.memory ? String(app.memory) : '' });
		const field = function(label, widget) {
			return E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title' }, [ label ]),
				E('div', { 'class': 'cbi-value-field' }, [ widget.render() ])
			]);
		};
		ui.showModal(_('Install with options'), [
			E('p', {}, [ _('Leave a field empty to use the catalog\'s default.') ]),
			field(_('Name'), name),
			field(_('Port'), port),
			field(_('Memory limit (MiB)'), memory),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', {
					'class': 'cbi-button cbi-button-action', 'id': 'nuvol-opt-install',
					'click': L.bind(function() {
						if (!name.isValid() || !port.isValid() || !memory.isValid())
							return;
						const num = function(w) { const v = w.getValue(); return v === '' ? undefined : +v; };
						this.handleInstall(app, { name: name.getValue() || undefined, port: num(port), memory: num(memory) });
					}, this)
				}, [ _('Install') ])
			])
		]);
	},

	renderTile: function(app) {
		const installed = !!app.installed;
		return E('div', { 'class': 'nuvol-tile', 'data-app': app.id }, [
			E('h3', {}, [ app.name || app.id ]),
			E('p', {}, [ app.description || '' ]),
			E('div', { 'class': 'nuvol-meta' }, [
				_('Needs %s of memory').format(common.formatMiB(app.memory)),
				app.port ? ' · ' + _('port %d').format(app.port) : '',
				app.version ? ' · ' + _('version %s').format(app.version) : ''
			]),
			E('div', {}, [
				installed
					? E('span', { 'class': 'nuvol-state nuvol-state-installed' }, [ _('Installed') ])
					: E('button', {
						'class': 'cbi-button cbi-button-action nuvol-install',
						'disabled': common.canChange() ? null : '',
						'click': ui.createHandlerFn(this, 'handleInstall', app)
					}, [ _('Install') ]),
				' ',
				E('button', {
					'class': 'cbi-button nuvol-options',
					'disabled': common.canChange() ? null : '',
					'click': ui.createHandlerFn(this, 'handleOptions', app)
				}, [ installed ? _('Install another…') : _('Options…') ])
			])
		]);
	},

	renderTiles: function(res) {
		if (res instanceof Error)
			return E('p', { 'class': 'nuvol-empty' }, [ _('The catalog could not be read: %s').format(common.errorText(res)) ]);
		const apps = (res && Array.isArray(res.apps)) ? res.apps : [];
		if (!apps.length)
			return E('p', { 'class': 'nuvol-empty' }, [ _('The catalog is empty.') ]);
		return E('div', { 'class': 'nuvol-tiles' }, apps.map(L.bind(this.renderTile, this)));
	},

	refresh: function() {
		return common.callCatalog().catch(function(err) { return err; }).then(L.bind(function(res) {
			// Keep the page as it is while a modal (an install) is open.
			if (document.body.classList.contains('modal-overlay-active'))
				return;
			dom.content(this.box, [ this.renderTiles(res) ]);
		}, this));
	},

	render: function(res) {
		this.box = E('div', { 'id': 'nuvol-catalog' }, [ this.renderTiles(res) ]);
		poll.add(L.bind(this.refresh, this), 10);
		return E('div', { 'class': 'cbi-map' }, [
			common.style(),
			E('h2', {}, [ _('Apps') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Apps you can run on this router. Each runs in its own container; install one with a click, then open, publish or remove it under My apps.') ]),
			this.box
		]);
	}
});
