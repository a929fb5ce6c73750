'use strict';
'require view';
'require form';
'require ui';
'require nuvol.common as common';

// Settings: the node's section of /etc/config/nuvol. Save stages the
// changes; Save & Apply commits them, and procd's reload trigger then has
// the daemon re-read the file.

return view.extend({
	render: function() {
		const m = new form.Map('nuvol', _('Edge node settings'),
			_('How this router takes part in the community cloud. Nodes that should find each other need the same cloud name and, if set, the same encryption key.'));

		const s = m.section(form.NamedSection, 'main', 'nuvol', _('Node'));

		let o = s.option(form.Value, 'node_name', _('Node name'),
			_('The name other nodes see. Empty: the router\'s host name.'));
		o.datatype = 'maxlength(128)';
		o.placeholder = _('host name');

		o = s.option(form.Value, 'cloud_name', _('Cloud name'),
			_('The community cloud this node belongs to (Cloudy\'s default is guifi).'));
		o.datatype = 'hostname';
		o.placeholder = 'guifi';

		o = s.option(form.Value, 'bind_port', _('Bind port'),
			_('UDP and TCP port of the federation (serf). Cloudy nodes use 5000.'));
		o.datatype = 'port';
		o.placeholder = '5000';

		o = s.option(form.DynamicList, 'join', _('Join'),
			_('Addresses of nodes to join at start, as address:port.'));
		o.datatype = 'or(hostport, host)';
		o.placeholder = '10.1.2.3:5000';

		o = s.option(form.Value, 'encrypt_key', _('Encryption key'),
			_('Encrypts the federation\'s gossip. Every node must have the same key; Cloudy nodes use none. Empty: no encryption.'));
		o.validate = function(section_id, value) { return common.checkKey(value); };
		o.renderWidget = function(section_id, option_index, cfgvalue) {
			const widget = form.Value.prototype.renderWidget.apply(this, [ section_id, option_index, cfgvalue ]);
			return E('div', { 'class': 'nuvol-key' }, [
				widget,
				E('button', {
					'class': 'cbi-button cbi-button-neutral',
					'type': 'button',
					'id': 'nuvol-new-key',
					'click': ui.createHandlerFn(this, function() {
						this.getUIElement(section_id).setValue(common.newKey());
					})
				}, [ _('Make a new key') ])
			]);
		};

		o = s.option(form.Value, 'lxc_path', _('Container directory'),
			_('Where the apps\' containers live (lxc path). Pick a disk with room: apps can be large.'));
		o.datatype = 'string';
		o.placeholder = '/srv/lxc';
		o.validate = function(section_id, value) {
			return (value === '' || value.charAt(0) == '/') ? true : _('Must be an absolute path');
		};

		return Promise.all([ m.render() ]).then(function(nodes) {
			return E('div', {}, [ common.style(), nodes[0] ]);
		});
	}
});
