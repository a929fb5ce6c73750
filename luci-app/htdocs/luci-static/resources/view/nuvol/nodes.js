'use strict';
'require view';
'require dom';
'require poll';
'require nuvol.common as common';

// Nodes: this node, the members of the community cloud, and the published
// apps that did not fit in this node's services tag (serf gossips at most
// 512 bytes of tags per node, so a node can only announce a few).

return view.extend({
	handleSave: null,
	handleSaveApply: null,
	handleReset: null,

	load: function() {
		return Promise.all([
			common.callStatus().catch(function(err) { return err; }),
			common.callNodes().catch(function(err) { return err; })
		]);
	},

	renderStatus: function(st) {
		if (st instanceof Error)
			return E('p', { 'class': 'nuvol-empty' }, [ _('The node status could not be read: %s').format(common.errorText(st)) ]);
		const apps = st.apps || {};
		const rows = [
			[ _('Node name'), String(st.node || '') ],
			[ _('Cloud'), String(st.cloud || '') ],
			[ _('nuvol version'), String(st.version || '') ],
			[ _('Apps'), _('%d installed, %d running, %d published').format(apps.installed || 0, apps.running || 0, apps.published || 0) ],
			[ _('Members'), String(st.members != null ? st.members : '-') ]
		];
		const table = E('table', { 'class': 'table', 'id': 'nuvol-status' }, rows.map(function(r) {
			return E('tr', { 'class': 'tr' }, [ E('td', { 'class': 'td left', 'width': '33%' }, [ r[0] ]), E('td', { 'class': 'td left' }, [ r[1] ]) ]);
		}));
		const out = [ table ];
		if (st.federation_error)
			out.push(E('div', { 'class': 'alert-message warning' }, [
				E('strong', {}, [ _('The federation is not running: ') ]), String(st.federation_error) ]));
		if (st.config_error)
			out.push(E('div', { 'class': 'alert-message warning' }, [
				E('strong', {}, [ _('The configuration on disk is not in force: ') ]), String(st.config_error) ]));
		return E('div', {}, out);
	},

	renderMembers: function(res) {
		if (res instanceof Error)
			return E('p', { 'class': 'nuvol-empty' }, [ _('The members could not be read: %s').format(common.errorText(res)) ]);
		const members = Array.isArray(res.members) ? res.members : [];
		if (!members.length)
			return E('p', { 'class': 'nuvol-empty' }, [ _('No member: the federation is not running or has not joined anyone yet.') ]);
		return E('table', { 'class': 'table', 'id': 'nuvol-members' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, [ _('Node') ]),
				E('th', { 'class': 'th' }, [ _('Status') ]),
				E('th', { 'class': 'th' }, [ _('Address') ]),
				E('th', { 'class': 'th' }, [ _('Software') ]),
				E('th', { 'class': 'th' }, [ _('Services') ])
			])
		].concat(members.map(function(m) {
			const addr = String(m.address || '') + (m.port ? ':' + m.port : '');
			return E('tr', { 'class': 'tr', 'data-node': String(m.name || '') }, [
				E('td', { 'class': 'td' }, [ String(m.name || '') ]),
				E('td', { 'class': 'td' }, [ common.stateBadge(m.status) ]),
				E('td', { 'class': 'td' }, [ addr ]),
				E('td', { 'class': 'td' }, [ common.softwareBadge(m.software) ]),
				E('td', { 'class': 'td' }, [ String(m.services != null ? m.services : '') ])
			]);
		})));
	},

	renderNotFitted: function(res) {
		const list = (!(res instanceof Error) && Array.isArray(res.not_fitted)) ? res.not_fitted : [];
		if (!list.length)
			return E('p', { 'class': 'nuvol-empty', 'id': 'nuvol-not-fitted' }, [ _('Every published app fits in this node\'s services tag.') ]);
		return E('div', { 'id': 'nuvol-not-fitted' }, [
			E('p', {}, [ _('These published apps are running but other nodes cannot see them: the services tag is full (serf allows 512 bytes of tags per node). Unpublish another app or shorten descriptions to make room.') ]),
			E('table', { 'class': 'table' }, [
				E('tr', { 'class': 'tr table-titles' }, [
					E('th', { 'class': 'th' }, [ _('App') ]),
					E('th', { 'class': 'th' }, [ _('Type') ]),
					E('th', { 'class': 'th' }, [ _('Port') ])
				])
			].concat(list.map(function(s) {
				return E('tr', { 'class': 'tr' }, [
					E('td', { 'class': 'td' }, [ String(s.name || '') ]),
					E('td', { 'class': 'td' }, [ String(s.type || '') ]),
					E('td', { 'class': 'td' }, [ String(s.port || '') ])
				]);
			})))
		]);
	},

	update: function(data) {
		dom.content(this.statusBox, [ this.renderStatus(data[0]) ]);
		dom.content(this.membersBox, [ this.renderMembers(data[1]) ]);
		dom.content(this.notFittedBox, [ this.renderNotFitted(data[1]) ]);
	},

	render: function(data) {
		this.statusBox = E('div');
		this.membersBox = E('div');
		this.notFittedBox = E('div');
		this.update(data);
		poll.add(L.bind(function() { return this.load().then(L.bind(this.update, this)); }, this), 5);
		return E('div', { 'class': 'cbi-map' }, [
			common.style(),
			E('h2', {}, [ _('Nodes') ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('This node') ]), this.statusBox ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Members of the community cloud') ]), this.membersBox ]),
			E('div', { 'class': 'cbi-section' }, [ E('h3', {}, [ _('Published apps that did not fit') ]), this.notFittedBox ])
		]);
	}
});
