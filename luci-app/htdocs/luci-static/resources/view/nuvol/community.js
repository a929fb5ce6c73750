'use strict';
'require view';
'require dom';
'require poll';
'require ui';
'require nuvol.common as common';

// Community: what every node of the community cloud publishes, nuvol or
// Cloudy, grouped by type as Cloudy's search page shows it. Everything in a
// result comes from another node and is untrusted: it only ever becomes text.

return view.extend({
	handleSave: null,
	handleSaveApply: null,
	handleReset: null,

	load: function() {
		return common.callSearch().catch(function(err) { return err; });
	},

	query: function() {
		return {
			type: this.typeSelect ? this.typeSelect.value : '',
			text: this.searchBox ? this.searchBox.value.trim() : ''
		};
	},

	// alive keeps services whose node is still in the cluster: a node that
	// left or failed disappears from the page at the next refresh.
	alive: function(res) {
		const list = (res && Array.isArray(res.services)) ? res.services : [];
		return list.filter(function(s) { return s && (s.node_status == null || s.node_status == 'alive'); });
	},

	updateTypes: function(all) {
		const current = this.typeSelect.value, seen = {};
		all.forEach(function(s) { if (s.type) seen[s.type] = true; });
		if (current)
			seen[current] = true;
		const types = Object.keys(seen).sort();
		const options = [ E('option', { 'value': '' }, [ _('All types') ]) ].concat(types.map(function(t) {
			return E('option', { 'value': t }, [ t ]);
		}));
		dom.content(this.typeSelect, options);
		this.typeSelect.value = current;
	},

	renderService: function(s) {
		const url = common.appURL(s.address, s.port);
		return E('tr', { 'class': 'tr nuvol-service', 'data-type': String(s.type || ''), 'data-node': String(s.node || '') }, [
			// Cloudy writes the spaces of a description as "_" (as text, always).
			E('td', { 'class': 'td nuvol-description' }, [ String(s.description || '').replace(/_/g, ' ') ]),
			E('td', { 'class': 'td' }, [ String(s.host || '') ]),
			E('td', { 'class': 'td' }, [ String(s.address || '') ]),
			E('td', { 'class': 'td' }, [ String(s.port || '') ]),
			E('td', { 'class': 'td' }, [ E('small', {}, [ String(s.node || '') ]) ]),
			E('td', { 'class': 'td' }, [ common.softwareBadge(s.software) ]),
			E('td', { 'class': 'td' }, [
				url ? E('a', { 'class': 'cbi-button cbi-button-action nuvol-open', 'href': url,
					'target': '_blank', 'rel': 'noopener noreferrer' }, [ _('Open') ]) : '-'
			])
		]);
	},

	renderResults: function(res) {
		if (res instanceof Error)
			return E('p', { 'class': 'nuvol-empty' }, [ _('The community could not be searched: %s').format(common.errorText(res)) ]);
		const services = this.alive(res), groups = {};
		if (!services.length)
			return E('p', { 'class': 'nuvol-empty' }, [ _('No service found. Nodes publish their apps here when they run and are marked Publish.') ]);
		services.forEach(function(s) {
			const t = String(s.type || '');
			(groups[t] = groups[t] || []).push(s);
		});
		return E('div', {}, Object.keys(groups).sort().map(L.bind(function(type) {
			return E('div', { 'class': 'cbi-section nuvol-group', 'data-type': type }, [
				E('h3', {}, [ type || _('Other') ]),
				E('table', { 'class': 'table' }, [
					E('tr', { 'class': 'tr table-titles' }, [
						E('th', { 'class': 'th' }, [ _('Description') ]),
						E('th', { 'class': 'th' }, [ _('Host') ]),
						E('th', { 'class': 'th' }, [ _('Address') ]),
						E('th', { 'class': 'th' }, [ _('Port') ]),
						E('th', { 'class': 'th' }, [ _('Node') ]),
						E('th', { 'class': 'th' }, [ _('Software') ]),
						E('th', { 'class': 'th' }, [ _('Open') ])
					])
				].concat(groups[type].map(L.bind(this.renderService, this))))
			]);
		}, this)));
	},

	refresh: function() {
		const q = this.query();
		// One unfiltered search feeds the type filter; the filtered one the table.
		return Promise.all([
			common.callSearch().catch(function(err) { return err; }),
			(q.type || q.text) ? common.callSearch(q.type || undefined, undefined, q.text || undefined).catch(function(err) { return err; }) : null
		]).then(L.bind(function(r) {
			if (!(r[0] instanceof Error))
				this.updateTypes(this.alive(r[0]));
			dom.content(this.results, [ this.renderResults(r[1] || r[0]) ]);
		}, this));
	},

	render: function(res) {
		this.searchBox = E('input', { 'type': 'search', 'class': 'cbi-input-text', 'id': 'nuvol-search-text',
			'placeholder': _('Search descriptions, hosts and types') });
		this.typeSelect = E('select', { 'class': 'cbi-input-select', 'id': 'nuvol-search-type' }, [
			E('option', { 'value': '' }, [ _('All types') ])
		]);
		this.results = E('div', { 'id': 'nuvol-results' }, [ this.renderResults(res) ]);
		if (!(res instanceof Error))
			this.updateTypes(this.alive(res));

		const go = ui.createHandlerFn(this, 'refresh');
		this.searchBox.addEventListener('keydown', L.bind(function(ev) {
			if (ev.key == 'Enter')
				this.refresh();
		}, this));
		this.typeSelect.addEventListener('change', L.bind(function() { this.refresh(); }, this));
		poll.add(L.bind(this.refresh, this), 5);

		return E('div', { 'class': 'cbi-map' }, [
			common.style(),
			E('h2', {}, [ _('Community') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Services published by the nodes of your community cloud, nuvol and Cloudy alike. Open one to use it.') ]),
			E('div', { 'class': 'nuvol-search' }, [
				this.searchBox, this.typeSelect,
				E('button', { 'class': 'cbi-button cbi-button-action', 'id': 'nuvol-search-go', 'click': go }, [ _('Search') ])
			]),
			this.results
		]);
	}
});
