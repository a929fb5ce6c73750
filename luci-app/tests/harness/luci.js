/*
 * Test stand-in for the part of LuCI's client API that luci-app-nuvol's views
 * use: the LuCI class (require loader, env, url helpers, error banners),
 * baseclass, view, dom, poll, request, session, rpc, uci, form, ui and a few
 * validation datatypes. Written for nuvol's browser test from the facts in
 * shared/reference/luci-client-api.md (sections 1-8); it is not LuCI's code.
 * What it keeps on purpose, because the views' safety and behaviour depend on
 * it: string-versus-array semantics of E()/dom.append, rpc.declare's
 * resolve/reject/expect/filter rules and batching by position, poll in
 * seconds without overlap, createHandlerFn's argument order, the footer rules,
 * and the uci staging cache that form.Map saves through.
 */
(function (window, document) {
'use strict';

/* ---------------------------------------------------------------- classes */

var superDepth = new WeakMap();

var BaseProto = {
	varargs: function (args, offset) {
		return Array.prototype.slice.call(arguments, 2).concat(Array.prototype.slice.call(args, offset));
	},
	// super(key, args) calls the next definition of key up the prototype chain,
	// counting depth per instance and key so that nested super calls work.
	super: function (key, callArgs) {
		var defs = [], proto = Object.getPrototypeOf(this);
		while (proto && proto !== Object.prototype) {
			if (Object.prototype.hasOwnProperty.call(proto, key) && defs.indexOf(proto[key]) < 0)
				defs.push(proto[key]);
			proto = Object.getPrototypeOf(proto);
		}
		var depths = superDepth.get(this) || {};
		superDepth.set(this, depths);
		var d = depths[key] || 0, fn = defs[d + 1];
		if (fn === undefined)
			throw new ReferenceError('"' + key + '" has no super definition');
		if (typeof fn != 'function' || callArgs === undefined)
			return fn;
		depths[key] = d + 1;
		try { return fn.apply(this, callArgs); }
		finally { depths[key] = d; }
	}
};

function makeClass(Parent, props) {
	var C = function () {
		if (!(this instanceof C))
			throw new TypeError('Constructor must not be called without "new"');
		if (typeof this.__init__ == 'function')
			this.__init__.apply(this, arguments);
	};
	C.prototype = Object.create(Parent ? Parent.prototype : BaseProto,
		Object.getOwnPropertyDescriptors(props || {}));
	Object.defineProperty(C.prototype, 'constructor', { value: C, writable: true });
	C.extend = function (p) { return makeClass(C, p); };
	C.singleton = function (p) {
		var K = makeClass(C, p), args = Array.prototype.slice.call(arguments, 1);
		return new (Function.prototype.bind.apply(K, [null].concat(args)))();
	};
	C.instantiate = function (args) {
		return new (Function.prototype.bind.apply(C, [null].concat(args || [])))();
	};
	C.isSubclass = function (k) { return typeof k == 'function' && k.prototype instanceof C; };
	return C;
}

var baseclass = makeClass(null, {});

function isObject(v) { return v != null && typeof v == 'object'; }
function isElem(e) { return e != null && typeof e == 'object' && 'nodeType' in e; }

/* ---------------------------------------------------------------- dom */

var dataRegistry = {}, dataSeq = 0;

var dom = baseclass.singleton({
	elem: isElem,
	parse: function (s) {
		var doc = new DOMParser().parseFromString(s, 'text/html');
		return doc.body.firstChild;
	},
	matches: function (node, sel) {
		return isElem(node) && typeof node.matches == 'function' ? node.matches(sel) : false;
	},
	parent: function (node, sel) {
		if (!isElem(node)) return null;
		return node.closest ? node.closest(sel) : null;
	},
	append: function (node, children) {
		if (!isElem(node)) return null;
		if (Array.isArray(children)) {
			for (var i = 0; i < children.length; i++) {
				if (isElem(children[i])) node.appendChild(children[i]);
				else node.appendChild(document.createTextNode(String(children[i])));
			}
			return node.lastChild;
		}
		if (typeof children == 'function') return this.append(node, children(node));
		if (isElem(children)) return node.appendChild(children);
		if (children !== null && children !== undefined) {
			// A plain value is HTML, as in LuCI: callers must pass text in an array.
			node.innerHTML = String(children);
			return node.lastChild;
		}
		return null;
	},
	content: function (node, children) {
		if (!isElem(node)) return null;
		node.querySelectorAll && node.querySelectorAll('[data-idref]').forEach(function (n) {
			delete dataRegistry[n.getAttribute('data-idref')];
		});
		while (node.firstChild) node.removeChild(node.firstChild);
		return this.append(node, children);
	},
	attr: function (node, key, val) {
		if (!isElem(node)) return null;
		var attrs = null;
		if (isObject(key) && !Array.isArray(key)) attrs = key;
		else if (key != null) { attrs = {}; attrs[key] = val; }
		for (var k in attrs) {
			var v = attrs[k];
			if (v === null || v === undefined) continue;
			if (typeof v == 'function') node.addEventListener(k, v);
			else if (typeof v == 'object') node.setAttribute(k, JSON.stringify(v));
			else node.setAttribute(k, v);
		}
	},
	create: function (html, attr, data) {
		var elem;
		if (Array.isArray(html)) {
			elem = document.createDocumentFragment();
			for (var i = 0; i < html.length; i++) {
				var c = this.create(html[i]);
				if (c) elem.appendChild(c);
			}
		}
		else if (isElem(html)) elem = html;
		else if (typeof html == 'string' && html.charCodeAt(0) === 60) elem = this.parse(html);
		else elem = document.createElement(html);
		if (!elem) return null;
		// The second argument is attributes only when it is a non-array object.
		if (attr instanceof Object && !Array.isArray(attr)) this.attr(elem, attr);
		else data = attr;
		this.append(elem, data);
		return elem;
	},
	data: function (node, key, val) {
		if (!isElem(node) || node.nodeType !== 1) return arguments.length == 1 ? {} : null;
		var id = node.getAttribute('data-idref');
		if (arguments.length == 1) return id ? dataRegistry[id] || {} : {};
		if (id == null && val !== null) {
			id = String(++dataSeq);
			node.setAttribute('data-idref', id);
		}
		if (id == null) return null;
		var d = dataRegistry[id] = dataRegistry[id] || {};
		if (arguments.length == 2) return d[key];
		if (val === null) { var old = d[key]; delete d[key]; return old; }
		return (d[key] = val);
	},
	bindClassInstance: function (node, inst) { return this.data(node, '_class', inst); },
	findClassInstance: function (node) {
		for (; isElem(node); node = node.parentNode) {
			var inst = this.data(node, '_class');
			if (inst) return inst;
		}
		return null;
	},
	callClassMethod: function (node, method) {
		var inst = this.findClassInstance(node);
		if (!inst || typeof inst[method] != 'function') return null;
		return inst[method].apply(inst, Array.prototype.slice.call(arguments, 2));
	},
	isEmpty: function (node, ignoreFn) {
		for (var c = node && node.firstElementChild; c; c = c.nextElementSibling)
			if (!(typeof ignoreFn == 'function' && ignoreFn(c))) return false;
		return true;
	}
});

/* ---------------------------------------------------------------- LuCI */

var L; // the LuCI instance, set by its constructor

function RPCError(msg) { var e = new Error(msg); e.name = 'RPCError'; return e; }

var LuCI = baseclass.extend({
	__init__: function (setenv) {
		L = window.L = this;
		var env = this.env = Object.assign({}, setenv);
		this.classes = {};
		this.loading = {};
		this.dom = dom; // legacy alias; cbi.js's E() goes through it
		this.loaded = false;
		if (!env.base_url) {
			var tag = document.querySelector('script[src*="/luci.js"]');
			if (!tag) throw new Error('no luci.js script tag and no base_url');
			var src = tag.getAttribute('src'), m = /^(.*)\/luci\.js(?:\?v=([^&]+))?$/.exec(src);
			env.base_url = m[1];
			env.resource_version = m[2];
		}
		env.cgi_base = String(env.scriptname || '').replace(/\/[^\/]+$/, '');

		var origCbiInit = window.cbi_init;
		window.cbi_init = function () {};
		var domReady = new Promise(function (resolve) {
			if (document.readyState == 'loading') document.addEventListener('DOMContentLoaded', resolve);
			else resolve();
		});
		var self = this;
		Promise.all([domReady, this.require('ui'), this.require('rpc'), this.require('form'), this.probeRPCBaseURL()])
			.then(function (r) { return self.setupDOM(r); })
			.then(function () { return self.initDOM(origCbiInit); })
			.catch(function (e) { self.error(e); });
	},

	probeRPCBaseURL: function () {
		var env = this.env;
		return window.fetch(env.ubuspath, {
			method: 'POST', headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'list' })
		}).then(function (res) { return res.status == 200 ? env.ubuspath : L.url('admin/ubus'); },
			function () { return L.url('admin/ubus'); });
	},

	setupDOM: function (res) {
		var rpc = res[2];
		rpc.setBaseURL(res[4]);
		var getFeatures = rpc.declare({ object: 'luci', method: 'getFeatures', expect: { '': {} } });
		var self = this;
		return getFeatures().then(function (f) { self.features = f; });
	},

	initDOM: function (cbiInit) {
		cbiInit();
		mod('poll').start();
		this.loaded = true;
		document.dispatchEvent(new CustomEvent('luci-loaded'));
		if (this.env.sessionid) mod('ui').changes.init().catch(function () {});
	},

	require: function (name, from) {
		from = from || [];
		var self = this;
		if (this.classes[name] !== undefined) return Promise.resolve(this.classes[name]);
		if (builtins[name]) return Promise.resolve(this.classes[name] = builtins[name](this));
		if (from.indexOf(name) > -1)
			return Promise.reject(this.mkerror('DependencyError', 'Circular dependency: class "%s" depends on "%s"', name, from.join('" which depends on "')));
		if (this.loading[name]) return this.loading[name];

		var url = this.env.base_url + '/' + name.replace(/\./g, '/') + '.js' +
			(this.env.resource_version ? '?v=' + this.env.resource_version : '');
		return (this.loading[name] = window.fetch(url).then(function (res) {
			if (!res.ok) throw self.mkerror('NetworkError', 'HTTP error %d while loading class file "%s"', res.status, url);
			return res.text();
		}).then(function (text) {
			var deps = [], args = ['window', 'document', 'L'];
			// Header directives: leading string-literal statements, comments skipped.
			var re = /^(?:\s+|\/\*[\s\S]*?\*\/|\/\/[^\n]*\n)*(['"])((?:(?!\1)[^\\]|\\.)*)\1\s*;?/, rest = text, m;
			while ((m = re.exec(rest)) != null) {
				rest = rest.substring(m[0].length);
				if (m[2] == 'use strict') continue;
				var r = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(m[2]);
				if (!r) break;
				deps.push(r[1]);
				args.push(r[2] || r[1].replace(/[^a-zA-Z0-9_]/g, '_'));
			}
			return Promise.all(deps.map(function (d) { return self.require(d, from.concat(name)); })).then(function (inst) {
				var fn;
				try { fn = Function.apply(null, args.concat([text + '\n//# sourceURL=' + url])); }
				catch (e) { throw self.mkerror('SyntaxError', '%s\n  in %s', e.message, url); }
				var K = fn.apply(window, [window, document, self].concat(inst));
				if (!baseclass.isSubclass(K))
					throw self.mkerror('TypeError', '"%s" factory yields invalid constructor', name);
				return (self.classes[name] = new K());
			});
		}));
	},

	mkerror: function (type, fmt) {
		var msg = String.prototype.format.apply(fmt, Array.prototype.slice.call(arguments, 2));
		var e = typeof window[type] == 'function' && window[type].prototype instanceof Error
			? new window[type](msg) : new Error(msg);
		if (e.name != type) e.name = type;
		return e;
	},
	raise: function () { throw this.mkerror.apply(this, arguments); },
	error: function (type) {
		var e = type instanceof Error ? type : this.mkerror.apply(this, arguments);
		if (!e.reported) {
			e.reported = true;
			var ui = L.classes.ui;
			if (ui) ui.addNotification(e.name || _('Runtime error'), E('pre', {}, [e.message]), 'danger');
			else console.error(e);
		}
		throw e;
	},
	bind: function (fn, self) { return Function.prototype.bind.apply(fn, [self].concat(Array.prototype.slice.call(arguments, 2))); },
	resolveDefault: function (p, def) { return Promise.resolve(p).catch(function () { return def; }); },
	isObject: isObject,
	toArray: function (v) {
		if (v == null) return [];
		if (Array.isArray(v)) return v;
		if (isObject(v)) return [v];
		var s = String(v).trim();
		return s == '' ? [] : s.split(/\s+/);
	},
	sortedKeys: function (obj, key, sortmode) {
		if (!isObject(obj)) return [];
		return Object.keys(obj).map(function (k) {
			var v = key ? obj[k][key] : k;
			return [k, sortmode == 'num' ? +v : v];
		}).sort(function (a, b) { return L.naturalCompare(a[1], b[1]); }).map(function (e) { return e[0]; });
	},
	naturalCompare: function (a, b) {
		return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' });
	},
	path: function (prefix, parts) {
		var url = [prefix || ''];
		for (var i = 0; i < parts.length; i++)
			if (/^(?:[a-zA-Z0-9_.%,;-]+\/)*[a-zA-Z0-9_.%,;-]+$/.test(parts[i]))
				url.push('/', parts[i]);
		if (url.length === 1) url.push('/');
		return url.join('');
	},
	url: function () { return this.path(this.env.scriptname, Array.prototype.slice.call(arguments)); },
	resource: function () { return this.path(this.env.resource, Array.prototype.slice.call(arguments)); },
	media: function () { return this.path(this.env.media, Array.prototype.slice.call(arguments)); },
	location: function () { return this.path(this.env.scriptname, this.env.requestpath || []); },
	hasSystemFeature: function () { return false; },
	hasViewPermission: function () {
		var ns = this.env.nodespec;
		if (!isObject(ns) || !ns.satisfied) return null;
		return !ns.readonly;
	}
});

/* ---------------------------------------------------------------- built-in modules */

var builtins = {
	baseclass: function () { return baseclass; },
	dom: function () { return dom; },
	poll: function () { return makePoll(); },
	request: function () { return makeRequest(); },
	session: function () { return makeSession(); },
	rpc: function () { return makeRPC(); },
	uci: function (L) { return makeUCI(L.classes.rpc || (L.classes.rpc = makeRPC())); },
	validation: function () { return makeValidation(); },
	ui: function () { return makeUI(); },
	form: function () { return makeForm(); },
	view: function () { return makeView(); }
};
function mod(name) {
	if (L.classes[name] === undefined) L.classes[name] = builtins[name](L);
	return L.classes[name];
}

function makePoll() {
	return baseclass.singleton({
		queue: [],
		add: function (fn, interval) {
			if (interval == null || interval <= 0) interval = L.env.pollinterval || 5;
			if (isNaN(interval) || typeof fn != 'function') throw new TypeError('Invalid argument to poll.add()');
			for (var i = 0; i < this.queue.length; i++) if (this.queue[i].fn === fn) return false;
			this.queue.push({ fn: fn, i: Math.max(1, Math.round(interval)), r: true });
			if (this.tick != null && !this.active()) this.start();
			return true;
		},
		remove: function (fn) {
			var len = this.queue.length;
			this.queue = this.queue.filter(function (e) { return e.fn !== fn; });
			if (!this.queue.length && this.active()) this.stop();
			return this.queue.length != len;
		},
		start: function () {
			if (this.active()) return false;
			this.tick = 0;
			if (this.queue.length) {
				this.timer = window.setInterval(this.step.bind(this), 1000);
				this.step();
				document.dispatchEvent(new CustomEvent('poll-start'));
			}
			return true;
		},
		stop: function () {
			if (!this.active()) return false;
			window.clearInterval(this.timer);
			delete this.timer;
			document.dispatchEvent(new CustomEvent('poll-stop'));
			return true;
		},
		step: function () {
			var tick = this.tick;
			this.queue.forEach(function (e) {
				// Skip a function whose previous call has not settled: no pile-up.
				if (tick % e.i != 0 || !e.r) return;
				e.r = false;
				Promise.resolve().then(e.fn).catch(function (err) { console.error(err); })
					.then(function () { e.r = true; });
			});
			this.tick = (tick + 1) % 0x100000000;
		},
		active: function () { return this.timer != null; }
	});
}

function makeRequest() {
	function wrap(res) {
		return res.text().then(function (t) {
			return { ok: res.ok, status: res.status, statusText: res.statusText, headers: res.headers,
				text: function () { return t; }, json: function () { return JSON.parse(t); } };
		});
	}
	return baseclass.singleton({
		request: function (url, opts) {
			opts = opts || {};
			var init = { method: opts.method || 'GET', headers: opts.headers || {}, credentials: 'same-origin' };
			if (opts.content != null) {
				init.body = typeof opts.content == 'string' ? opts.content : JSON.stringify(opts.content);
				if (typeof opts.content != 'string') init.headers['Content-Type'] = 'application/json';
			}
			return window.fetch(url, init).then(wrap);
		},
		get: function (url, opts) { return this.request(url, Object.assign({}, opts, { method: 'GET' })); },
		post: function (url, content, opts) { return this.request(url, Object.assign({}, opts, { method: 'POST', content: content })); }
	});
}

function makeSession() {
	return baseclass.singleton({
		getID: function () { return L.env.sessionid || '00000000000000000000000000000000'; },
		getToken: function () { return L.env.token || null; },
		getLocalData: function () { return null; },
		setLocalData: function () { return false; }
	});
}

function makeRPC() {
	var sid = L.env.sessionid || '00000000000000000000000000000000';
	var baseURL = L.env.ubuspath || '/ubus/';
	var interceptors = [], queue = [], msgId = 1, flushScheduled = false;
	var statusText = ['Command OK', 'Invalid command', 'Invalid argument', 'Method not found',
		'Resource not found', 'No data received', 'Permission denied', 'Request timeout',
		'Not supported', 'Unspecified error', 'Connection lost'];

	function post(body) {
		return window.fetch(baseURL + '?' + Date.now(), {
			method: 'POST', credentials: 'include',
			headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
		}).then(function (res) {
			if (res.status < 200 || res.status > 299)
				throw RPCError('RPC call failed with HTTP error ' + res.status + ': ' + res.statusText);
			return res.json();
		});
	}

	function handle(state, msg) {
		var p = Promise.resolve(msg);
		interceptors.forEach(function (fn) { p = p.then(function () { return fn(msg, state.req); }).then(function () { return msg; }); });
		return p.then(function () {
			var what = state.req.params ? state.req.params[1] + '/' + state.req.params[2] : state.req.method;
			if (!isObject(msg) || msg.jsonrpc != '2.0')
				throw RPCError('RPC call to ' + what + ' failed with invalid response frame');
			if (isObject(msg.error) && msg.error.code && msg.error.message)
				throw RPCError('RPC call to ' + what + ' failed with error ' + msg.error.code + ': ' + msg.error.message);
			var ret = msg.result;
			if (state.req.method == 'call') {
				if (!Array.isArray(ret)) throw RPCError('RPC call to ' + what + ' failed with invalid response frame');
				var status = ret[0];
				if (status !== 0 && state.reject)
					throw RPCError('RPC call to ' + what + ' failed with ubus code ' + status + ': ' + (statusText[status] || 'Unknown error'));
				ret = ret.length > 1 ? ret[1] : ret[0];
			}
			if (state.expect) {
				for (var key in state.expect) {
					if (ret != null && key != '') ret = ret[key];
					var t = Object.prototype.toString;
					if (ret == null || t.call(ret) != t.call(state.expect[key])) ret = state.expect[key];
					break;
				}
			}
			if (typeof state.filter == 'function')
				ret = state.filter.apply(null, [ret, state.args].concat(state.extra));
			return ret;
		});
	}

	function flush() {
		flushScheduled = false;
		var batch = queue;
		queue = [];
		post(batch.map(function (e) { return e.req; })).then(function (replies) {
			if (!Array.isArray(replies) || !replies.length) throw RPCError('No related RPC reply');
			// Replies pair with requests by position, not by id.
			batch.forEach(function (e, i) {
				if (i >= replies.length) return e.rejectFn(RPCError('No related RPC reply'));
				handle(e, replies[i]).then(e.resolveFn, e.rejectFn);
			});
		}).catch(function (err) { batch.forEach(function (e) { e.rejectFn(err); }); });
	}

	function call(state) {
		return new Promise(function (resolve, reject) {
			state.resolveFn = resolve;
			state.rejectFn = reject;
			if (state.nobatch) {
				post(state.req).then(function (msg) { return handle(state, msg); }).then(resolve, reject);
				return;
			}
			queue.push(state);
			if (!flushScheduled) {
				flushScheduled = true;
				window.setTimeout(flush, 0);
			}
		});
	}

	return baseclass.singleton({
		list: function () {
			var objs = Array.prototype.slice.call(arguments);
			var req = { jsonrpc: '2.0', id: msgId++, method: 'list' };
			if (objs.length) req.params = objs;
			return call({ req: req, args: objs, extra: [] });
		},
		declare: function (options) {
			return function () {
				var argv = Array.prototype.slice.call(arguments), names = options.params || [], params = {};
				names.forEach(function (n, i) { if (argv[i] !== undefined) params[n] = argv[i]; });
				return call({
					req: { jsonrpc: '2.0', id: msgId++, method: 'call', params: [sid, options.object, options.method, params] },
					reject: options.reject, expect: options.expect, filter: options.filter, nobatch: options.nobatch,
					args: argv.slice(0, names.length), extra: argv.slice(names.length)
				});
			};
		},
		getSessionID: function () { return sid; },
		setSessionID: function (s) { sid = s; },
		getBaseURL: function () { return baseURL; },
		setBaseURL: function (u) { baseURL = u; },
		getStatusText: function (n) { return statusText[n] || 'Unknown error'; },
		addInterceptor: function (fn) { if (typeof fn == 'function') interceptors.push(fn); return fn; },
		removeInterceptor: function (fn) {
			var n = interceptors.length;
			interceptors = interceptors.filter(function (f) { return f !== fn; });
			return interceptors.length != n;
		}
	});
}

function makeUCI(rpc) {
	var callLoad = rpc.declare({ object: 'uci', method: 'get', params: ['config'], expect: { values: {} }, reject: true });
	var callAdd = rpc.declare({ object: 'uci', method: 'add', params: ['config', 'type', 'name', 'values'], expect: { section: '' }, reject: true });
	var callSet = rpc.declare({ object: 'uci', method: 'set', params: ['config', 'section', 'values'], reject: true });
	var callDelete = rpc.declare({ object: 'uci', method: 'delete', params: ['config', 'section', 'options'], reject: true });
	var callOrder = rpc.declare({ object: 'uci', method: 'order', params: ['config', 'sections'], reject: true });
	var callChanges = rpc.declare({ object: 'uci', method: 'changes', expect: { changes: {} } });

	function fresh() { return { values: {}, creates: {}, changes: {}, deletes: {}, reorder: {} }; }

	return baseclass.singleton({
		state: fresh(),
		loaded: {},
		createSID: function () { return 'new' + Math.random().toString(16).slice(2, 8); },
		resolveSID: function (conf, sid) {
			if (typeof sid != 'string') return sid;
			var m = /^@([a-zA-Z0-9_-]+)\[(-?[0-9]+)\]$/.exec(sid);
			if (!m) return sid;
			var list = this.sections(conf, m[1]), i = +m[2];
			var s = list[i < 0 ? list.length + i : i];
			return s ? s['.name'] : null;
		},
		load: function (packages) {
			var self = this, todo = [];
			if (!Array.isArray(packages)) packages = [packages];
			packages.forEach(function (p) { if (!self.state.values[p]) { todo.push(p); if (!self.loaded[p]) self.loaded[p] = callLoad(p); } });
			return Promise.all(todo.map(function (p) { return self.loaded[p]; })).then(function (res) {
				todo.forEach(function (p, i) { self.state.values[p] = res[i] || {}; });
				document.dispatchEvent(new CustomEvent('uci-loaded'));
				return todo;
			});
		},
		unload: function (packages) {
			var self = this;
			if (!Array.isArray(packages)) packages = [packages];
			packages.forEach(function (p) {
				['values', 'creates', 'changes', 'deletes', 'reorder'].forEach(function (k) { delete self.state[k][p]; });
				delete self.loaded[p];
			});
		},
		sections: function (conf, type, cb) {
			var st = this.state, out = [], seen = {};
			var add = function (s) {
				if (!s || seen[s['.name']] || (type && s['.type'] != type)) return;
				if (st.deletes[conf] && st.deletes[conf][s['.name']] === true) return;
				seen[s['.name']] = true;
				out.push(Object.assign({}, s, (st.changes[conf] || {})[s['.name']]));
			};
			var v = st.values[conf] || {};
			Object.keys(v).sort(function (a, b) { return (v[a]['.index'] || 0) - (v[b]['.index'] || 0); })
				.forEach(function (k) { add(v[k]); });
			Object.keys(st.creates[conf] || {}).forEach(function (k) { add(st.creates[conf][k]); });
			if (typeof cb == 'function') out.forEach(function (s) { cb.call(this, s, s['.name']); }, this);
			return out;
		},
		get: function (conf, sid, opt) {
			var st = this.state;
			sid = this.resolveSID(conf, sid);
			if (sid == null) return null;
			var n = (st.creates[conf] || {})[sid];
			if (n) return opt == null ? n : (n[opt] !== undefined ? n[opt] : null);
			var base = (st.values[conf] || {})[sid], del = (st.deletes[conf] || {})[sid], chg = (st.changes[conf] || {})[sid];
			if (!base || del === true) return null;
			if (opt == null) {
				var s = Object.assign({}, base, chg);
				if (isObject(del)) Object.keys(del).forEach(function (k) { delete s[k]; });
				return s;
			}
			if (isObject(del) && del[opt]) return null;
			if (chg && chg[opt] !== undefined) return chg[opt];
			return base[opt] !== undefined ? base[opt] : null;
		},
		set: function (conf, sid, opt, val) {
			var st = this.state;
			sid = this.resolveSID(conf, sid);
			if (sid == null || opt == null || opt.charAt(0) == '.') return;
			var n = (st.creates[conf] || {})[sid];
			if (n) {
				if (val == null || val === '') delete n[opt]; else n[opt] = val;
				return;
			}
			if (!(st.values[conf] || {})[sid]) return;
			if (val == null || val === '') return this.unset(conf, sid, opt);
			var c = (st.changes[conf] = st.changes[conf] || {});
			(c[sid] = c[sid] || {})[opt] = val;
			var d = (st.deletes[conf] || {})[sid];
			if (isObject(d)) delete d[opt];
		},
		unset: function (conf, sid, opt) {
			var st = this.state;
			sid = this.resolveSID(conf, sid);
			var n = (st.creates[conf] || {})[sid];
			if (n) { delete n[opt]; return; }
			if (!(st.values[conf] || {})[sid]) return;
			var d = (st.deletes[conf] = st.deletes[conf] || {});
			if (d[sid] !== true) (d[sid] = d[sid] || {})[opt] = true;
			if ((st.changes[conf] || {})[sid]) delete st.changes[conf][sid][opt];
		},
		add: function (conf, type, name) {
			var sid = name || this.createSID(conf), n = (this.state.creates[conf] = this.state.creates[conf] || {});
			n[sid] = { '.type': type, '.name': sid, '.create': name, '.anonymous': !name, '.index': 1000 + Object.keys(n).length };
			return sid;
		},
		remove: function (conf, sid) {
			var st = this.state;
			if ((st.creates[conf] || {})[sid]) { delete st.creates[conf][sid]; return; }
			(st.deletes[conf] = st.deletes[conf] || {})[sid] = true;
		},
		get_first: function (conf, type, opt) {
			var s = this.sections(conf, type)[0];
			return s ? this.get(conf, s['.name'], opt) : null;
		},
		set_first: function (conf, type, opt, val) {
			var s = this.sections(conf, type)[0];
			if (s) this.set(conf, s['.name'], opt, val);
		},
		unset_first: function (conf, type, opt) { return this.set_first(conf, type, opt, null); },
		save: function () {
			var st = this.state, tasks = [], pkgs = {};
			Object.keys(st.deletes).forEach(function (conf) {
				Object.keys(st.deletes[conf]).forEach(function (sid) {
					var d = st.deletes[conf][sid];
					tasks.push(function () { return callDelete(conf, sid, d === true ? undefined : Object.keys(d)); });
					pkgs[conf] = true;
				});
			});
			Object.keys(st.creates).forEach(function (conf) {
				Object.keys(st.creates[conf]).forEach(function (sid) {
					var s = st.creates[conf][sid], vals = {};
					Object.keys(s).forEach(function (k) { if (k.charAt(0) != '.') vals[k] = s[k]; });
					tasks.push(function () { return callAdd(conf, s['.type'], s['.create'], vals); });
					pkgs[conf] = true;
				});
			});
			Object.keys(st.changes).forEach(function (conf) {
				Object.keys(st.changes[conf]).forEach(function (sid) {
					var c = st.changes[conf][sid];
					if (Object.keys(c).length) tasks.push(function () { return callSet(conf, sid, c); });
					pkgs[conf] = true;
				});
			});
			var self = this;
			return tasks.reduce(function (p, t) { return p.then(t); }, Promise.resolve()).then(function () {
				var names = Object.keys(pkgs);
				self.unload(names);
				return self.load(names);
			});
		},
		changes: function () { return callChanges(); },
		callOrder: callOrder
	});
}

function makeValidation() {
	function parseExpr(s) {
		// "name(arg, arg)" with nested calls, numbers and quoted strings.
		var pos = 0;
		function ws() { while (pos < s.length && /\s/.test(s[pos])) pos++; }
		function term() {
			ws();
			if (s[pos] == '"' || s[pos] == "'") {
				var q = s[pos++], st = pos;
				while (pos < s.length && s[pos] != q) pos++;
				return { lit: s.substring(st, pos++) };
			}
			var m = /^[a-zA-Z0-9_.+-]+/.exec(s.substring(pos));
			if (!m) throw new SyntaxError('bad datatype "' + s + '"');
			pos += m[0].length;
			ws();
			var node = { name: m[0], args: [] };
			if (/^-?[0-9.]+$/.test(m[0])) return { lit: +m[0] };
			if (s[pos] == '(') {
				pos++;
				ws();
				while (s[pos] != ')') {
					node.args.push(term());
					ws();
					if (s[pos] == ',') pos++;
					else if (s[pos] != ')') throw new SyntaxError('bad datatype "' + s + '"');
				}
				pos++;
			}
			return node;
		}
		return term();
	}
	var ip4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
	function isIP6(v) { return /^[0-9a-fA-F:.]+$/.test(v) && v.indexOf(':') > -1 && v.split('::').length <= 2; }
	function isHostname(v) {
		return v.length <= 253 && /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)*\.?$/.test(v);
	}
	function isPort(v) { return /^[0-9]+$/.test(v) && +v >= 0 && +v <= 65535; }
	var types = {
		integer: function (v) { return /^-?[0-9]+$/.test(v); },
		uinteger: function (v) { return /^[0-9]+$/.test(v); },
		float: function (v) { return !isNaN(parseFloat(v)) && isFinite(v); },
		range: function (v, a, b) { return !isNaN(+v) && v !== '' && +v >= a && +v <= b; },
		min: function (v, a) { return !isNaN(+v) && v !== '' && +v >= a; },
		max: function (v, a) { return !isNaN(+v) && v !== '' && +v <= a; },
		port: isPort,
		ip4addr: function (v) { return ip4.test(v); },
		ip6addr: isIP6,
		ipaddr: function (v) { return ip4.test(v) || isIP6(v); },
		hostname: isHostname,
		host: function (v) { return ip4.test(v) || isIP6(v) || isHostname(v); },
		hostport: function (v) {
			var m = /^(.+):([0-9]+)$/.exec(v);
			return !!m && isPort(m[2]) && (ip4.test(m[1]) || isHostname(m[1]) || /^\[.+\]$/.test(m[1]));
		},
		uciname: function (v) { return /^[a-zA-Z0-9_]+$/.test(v); },
		string: function () { return true; },
		file: function () { return true; },
		directory: function () { return true; },
		maxlength: function (v, n) { return String(v).length <= n; },
		minlength: function (v, n) { return String(v).length >= n; }
	};
	var messages = {
		port: 'valid port value', uinteger: 'positive integer value', integer: 'integer value',
		hostname: 'valid hostname', host: 'valid hostname or IP address', hostport: 'valid host:port',
		ipaddr: 'valid IP address', ip4addr: 'valid IPv4 address', uciname: 'valid UCI identifier'
	};
	function check(node, v) {
		if (node.lit !== undefined) return String(v) === String(node.lit);
		if (node.name == 'or') return node.args.some(function (a) { return check(a, v); });
		if (node.name == 'and') return node.args.every(function (a) { return check(a, v); });
		if (node.name == 'neg') return !check(node.args[0], v);
		if (node.name == 'list') return L.toArray(v).every(function (x) { return check(node.args[0], x); });
		var fn = types[node.name];
		if (!fn) throw new ReferenceError('unknown datatype "' + node.name + '"');
		return fn.apply(null, [String(v)].concat(node.args.map(function (a) { return a.lit; })));
	}
	return baseclass.singleton({
		// Returns a function(value) that gives true or a message in words.
		create: function (datatype) {
			var node;
			try { node = parseExpr(datatype); check(node, ''); }
			catch (e) { if (e instanceof ReferenceError || e instanceof SyntaxError) return null; }
			return function (value) {
				if (check(node, value)) return true;
				var what = node.name == 'range' ? _('value between %d and %d').format(node.args[0].lit, node.args[1].lit)
					: (messages[node.name] ? _(messages[node.name]) : node.name);
				return _('Expecting: %s').format(what);
			};
		}
	});
}

function makeUI() {
	var validation = mod('validation');

	var AbstractElement = baseclass.extend({
		__init__: function (value, options) {
			this.value = value;
			this.options = Object.assign({ optional: true }, options);
		},
		getValue: function () { return this.node ? this.node.querySelector('input').value : this.value; },
		setValue: function (v) { if (this.node) this.node.querySelector('input').value = v == null ? '' : v; this.triggerValidation(); },
		setPlaceholder: function (v) { var i = this.node && this.node.querySelector('input'); if (i) i.placeholder = v; },
		isChanged: function () { return String(this.getValue()) !== String(this.value == null ? '' : this.value); },
		isValid: function () { return this.validState !== false; },
		getValidationError: function () { return this.validError || ''; },
		triggerValidation: function () {
			if (!this.validate) return true;
			var v = this.getValue(), res = this.validate(v), input = this.node && this.node.querySelector('input');
			this.validState = res === true;
			this.validError = res === true ? '' : res;
			if (input) {
				input.classList.toggle('cbi-input-invalid', res !== true);
				input.title = res === true ? '' : String(res);
			}
			this.node && this.node.dispatchEvent(new CustomEvent(res === true ? 'validation-success' : 'validation-failure',
				{ bubbles: true, detail: { message: this.validError } }));
			return res === true;
		},
		setupValidation: function (node) {
			var o = this.options, dt = o.datatype ? validation.create(o.datatype) : null, self = this;
			this.node = node;
			if (!dt && typeof o.validate != 'function') return;
			this.validate = function (value) {
				var empty = Array.isArray(value) ? value.length == 0 : (value == null || value === '');
				if (empty) return o.optional ? true : _('Non-empty value');
				var vals = Array.isArray(value) ? value : [value];
				for (var i = 0; i < vals.length; i++) {
					if (dt) { var r = dt(vals[i]); if (r !== true) return r; }
				}
				if (typeof o.validate == 'function') { var r2 = o.validate(value); if (r2 !== true) return r2 || _('Invalid value'); }
				return true;
			};
			node.addEventListener('input', function () { self.triggerValidation(); });
			node.addEventListener('blur', function () { self.triggerValidation(); }, true);
		},
		changed: function (node) {
			node.dispatchEvent(new CustomEvent('widget-change', { bubbles: true, detail: { instance: this } }));
		}
	});

	var Textfield = AbstractElement.extend({
		render: function () {
			var o = this.options, self = this;
			var input = E('input', {
				id: o.id, name: o.name, type: o.password ? 'password' : 'text',
				'class': o.password ? 'cbi-input-password' : 'cbi-input-text',
				readonly: o.readonly ? '' : null, disabled: o.disabled ? '' : null,
				maxlength: o.maxlength, placeholder: o.placeholder, value: this.value == null ? '' : this.value
			});
			var node = E('div', { 'class': 'cbi-textfield' }, [input]);
			input.addEventListener('change', function () { self.changed(node); });
			dom.bindClassInstance(node, this);
			this.setupValidation(node);
			this.triggerValidation();
			return node;
		}
	});

	var Checkbox = AbstractElement.extend({
		render: function () {
			var o = this.options, self = this, on = o.value_enabled || '1';
			var input = E('input', { id: o.id, type: 'checkbox', value: on, disabled: o.disabled ? '' : null });
			input.checked = String(this.value) == on;
			var node = E('div', { 'class': 'cbi-checkbox' }, [input, E('label', { 'for': o.id || null }, [''])]);
			input.addEventListener('change', function () { self.changed(node); });
			dom.bindClassInstance(node, this);
			this.node = node;
			return node;
		},
		isChecked: function () { return this.node.querySelector('input').checked; },
		getValue: function () { return this.isChecked() ? (this.options.value_enabled || '1') : (this.options.value_disabled || '0'); },
		setValue: function (v) { this.node.querySelector('input').checked = String(v) == (this.options.value_enabled || '1'); }
	});

	var Select = AbstractElement.extend({
		__init__: function (value, choices, options) {
			this.value = value;
			this.choices = choices;
			this.options = Object.assign({ optional: true }, options);
		},
		render: function () {
			var self = this, o = this.options;
			var sel = E('select', { id: o.id, 'class': 'cbi-input-select', disabled: o.disabled ? '' : null },
				Object.keys(this.choices).map(function (k) {
					// Choice labels are text.
					return E('option', { value: k, selected: String(self.value) == k ? '' : null }, [String(self.choices[k])]);
				}));
			var node = E('div', { 'class': 'cbi-select' }, [sel]);
			sel.addEventListener('change', function () { self.changed(node); });
			dom.bindClassInstance(node, this);
			this.node = node;
			return node;
		},
		getValue: function () { return this.node.querySelector('select').value; },
		setValue: function (v) { this.node.querySelector('select').value = v; }
	});

	var DynamicList = AbstractElement.extend({
		__init__: function (values, choices, options) {
			this.value = L.toArray(values);
			this.choices = choices;
			this.options = Object.assign({ optional: true }, options);
		},
		render: function () {
			var self = this, o = this.options;
			var input = E('input', { 'class': 'cbi-input-text', type: 'text', id: o.id, placeholder: o.placeholder || null });
			var add = E('div', { 'class': 'add-item' }, [input,
				E('button', { 'class': 'cbi-button cbi-button-add', type: 'button', title: _('Add') }, ['+'])]);
			var node = E('div', { 'class': 'cbi-dynlist' }, [add]);
			this.node = node;
			this.value.forEach(function (v) { self.addItem(v); });
			add.querySelector('button').addEventListener('click', function () {
				if (input.value.trim() === '') return;
				if (self.validate && self.validate(input.value) !== true) { input.classList.add('cbi-input-invalid'); return; }
				input.classList.remove('cbi-input-invalid');
				self.addItem(input.value.trim());
				input.value = '';
				self.changed(node);
			});
			input.addEventListener('keydown', function (ev) {
				if (ev.key == 'Enter') { ev.preventDefault(); add.querySelector('button').click(); }
			});
			dom.bindClassInstance(node, this);
			var o2 = this.options, dt = o2.datatype ? validation.create(o2.datatype) : null;
			if (dt) this.validate = function (v) { return v === '' ? true : dt(v); };
			return node;
		},
		addItem: function (v) {
			var self = this;
			var item = E('div', { 'class': 'item', 'data-value': v }, [
				E('span', {}, [v]),
				E('button', { 'class': 'cbi-button cbi-button-remove', type: 'button', title: _('Remove') }, ['×'])]);
			item.querySelector('button').addEventListener('click', function () { item.remove(); self.changed(self.node); });
			this.node.insertBefore(item, this.node.querySelector('.add-item'));
		},
		getValue: function () {
			var vals = Array.prototype.map.call(this.node.querySelectorAll('.item'), function (i) { return i.getAttribute('data-value'); });
			var pending = this.node.querySelector('.add-item input').value.trim();
			if (pending !== '') vals.push(pending);
			return vals;
		},
		setValue: function (vals) {
			var self = this;
			this.node.querySelectorAll('.item').forEach(function (i) { i.remove(); });
			L.toArray(vals).forEach(function (v) { self.addItem(v); });
		},
		isValid: function () { return !this.validate || this.getValue().every(function (v) { return this.validate(v) === true; }, this); }
	});

	function modalOverlay() {
		var ov = document.getElementById('modal_overlay');
		if (!ov) {
			ov = E('div', { id: 'modal_overlay' }, [E('div', { 'class': 'modal', role: 'dialog', 'aria-modal': 'true' })]);
			document.body.appendChild(ov);
		}
		return ov;
	}

	var indicators = {};

	return baseclass.singleton({
		AbstractElement: AbstractElement, Textfield: Textfield, Checkbox: Checkbox, Select: Select, DynamicList: DynamicList,
		showModal: function (title, children) {
			var dlg = modalOverlay().querySelector('.modal');
			dlg.className = 'modal';
			for (var i = 2; i < arguments.length; i++) dlg.classList.add(arguments[i]);
			dom.content(dlg, E('h4', {}, title == null ? '' : title)); // title is HTML, as in LuCI
			dom.append(dlg, children);
			document.body.classList.add('modal-overlay-active');
			return dlg;
		},
		hideModal: function () { document.body.classList.remove('modal-overlay-active'); },
		addNotification: function (title, children) {
			var mc = document.getElementById('maincontent') || document.body;
			var msg = E('div', { 'class': 'alert-message fade-in', style: 'display:flex' }, [
				E('div', { style: 'flex:10' }),
				E('div', { style: 'flex:1 1 auto;display:flex' }, [
					E('button', { 'class': 'btn', style: 'margin-left:auto;margin-top:auto',
						click: function (ev) { dom.parent(ev.target, '.alert-message').remove(); } }, [_('Dismiss')])])]);
			if (title != null) dom.append(msg.firstChild, E('h4', {}, title)); // title is HTML, as in LuCI
			dom.append(msg.firstChild, children);
			for (var i = 2; i < arguments.length; i++) msg.classList.add(arguments[i]);
			mc.insertBefore(msg, mc.firstElementChild);
			return msg;
		},
		showIndicator: function (id, label, handler, style) {
			var box = document.getElementById('indicators');
			if (!box) return false;
			var node = indicators[id] || (indicators[id] = E('span', { 'data-indicator': id, 'class': 'label' }));
			dom.content(node, [label]);
			node.setAttribute('data-style', style || 'active');
			if (typeof handler == 'function') node.onclick = handler;
			if (!node.parentNode) box.appendChild(node);
			return true;
		},
		hideIndicator: function (id) {
			var n = indicators[id];
			if (!n) return false;
			n.remove();
			delete indicators[id];
			return true;
		},
		itemlist: function (node, items) {
			var out = [];
			for (var i = 0; i + 1 < items.length; i += 2) {
				if (items[i + 1] === null || items[i + 1] === undefined) continue;
				if (out.length) out.push(E('br'));
				out.push(E('span', { 'class': 'nowrap' }, [E('strong', {}, items[i] + ': '), items[i + 1]]));
			}
			dom.content(node, out);
			return node;
		},
		createHandlerFn: function (ctx, fn) {
			if (typeof fn == 'string') fn = ctx[fn];
			if (typeof fn != 'function') return null;
			var args = Array.prototype.slice.call(arguments, 2);
			return function (ev) {
				var btn = ev.currentTarget;
				btn.classList.add('spinning');
				btn.disabled = true;
				if (btn.blur) btn.blur();
				return Promise.resolve(fn.apply(ctx, args.concat([ev]))).finally(function () {
					btn.classList.remove('spinning');
					btn.disabled = false;
				});
			};
		},
		instantiateView: function (path) {
			var className = 'view.' + path.replace(/\.js$/, '').replace(/\//g, '.');
			return L.require(className).then(function (v) {
				if (!(v instanceof mod('view'))) throw new TypeError('Loaded class ' + className + ' is not a descendant of View');
				return v;
			}).catch(function (err) {
				dom.content(document.getElementById('view'), null);
				L.error(err);
			});
		},
		changes: baseclass.singleton({
			init: function () {
				var self = this;
				return mod('uci').changes().then(function (changes) {
					var n = 0;
					Object.keys(changes || {}).forEach(function (c) { n += changes[c].length; });
					self.setIndicator(n);
				});
			},
			setIndicator: function (n) {
				var ui = mod('ui');
				if (n > 0) ui.showIndicator('uci-changes', _('Unsaved Changes') + ': ' + n, null, 'active');
				else ui.hideIndicator('uci-changes');
			},
			// apply() goes through LuCI's CGI actions, not ubus (reference §8.4).
			apply: function (checked) {
				var ui = mod('ui'), rpc = mod('rpc');
				var body = 'sid=' + encodeURIComponent(rpc.getSessionID()) + '&token=' + encodeURIComponent(L.env.token || '');
				var post = function (url, b) {
					return window.fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: b });
				};
				ui.showModal(_('Configuration changes'), [E('p', { 'class': 'spinning' }, [_('Applying configuration changes…')])]);
				return post(L.url('admin/uci', checked ? 'apply_rollback' : 'apply_unchecked'), body).then(function (res) {
					if (checked) {
						if (res.status != 200) throw new Error(_('Apply request failed with status %d').format(res.status));
						return res.json().then(function (j) {
							return post(L.url('admin/uci/confirm'), 'token=' + encodeURIComponent(j.token));
						});
					}
					if (res.status != 204) throw new Error(_('Apply request failed with status %d').format(res.status));
					return res;
				}).then(function () {
					ui.showModal(_('Configuration changes'), [E('p', {}, [_('Configuration changes applied.')])]);
					window.setTimeout(function () { window.location.reload(); }, (L.env.apply_display || 1.5) * 1000);
				}).catch(function (e) {
					ui.showModal(_('Configuration changes'), [E('p', {}, [e.message]),
						E('div', { 'class': 'right' }, [E('button', { 'class': 'btn', click: ui.hideModal }, [_('Dismiss')])])]);
				});
			},
			revert: function () {
				var rpc = mod('rpc');
				return window.fetch(L.url('admin/uci/revert'), { method: 'POST',
					headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
					body: 'sid=' + encodeURIComponent(rpc.getSessionID()) + '&token=' + encodeURIComponent(L.env.token || '') })
					.then(function () { window.location.reload(); });
			}
		})
	});
}

function makeForm() {
	var uci = mod('uci'), ui = mod('ui'), rpc = mod('rpc');
	var callSessionAccess = rpc.declare({ object: 'session', method: 'access', params: ['scope', 'object', 'function'], expect: { access: false } });

	function isEqual(a, b) { return JSON.stringify(a == null ? null : a) === JSON.stringify(b == null ? null : b); }

	var Map = baseclass.extend({
		__init__: function (config, title, description) {
			this.config = config;
			this.title = title || '';
			this.description = description || '';
			this.children = [];
			this.readonly = null;
		},
		section: function (K) {
			var s = new (Function.prototype.bind.apply(K, [null, this].concat(Array.prototype.slice.call(arguments, 1))))();
			this.children.push(s);
			return s;
		},
		load: function () {
			var self = this;
			return uci.load(this.config).then(function () {
				return Promise.all(self.children.map(function (s) { return s.load(); }));
			});
		},
		parse: function () { return Promise.all(this.children.map(function (s) { return s.parse(); })); },
		save: function (cb, silent) {
			var self = this;
			return this.parse().then(cb).then(function () { return uci.save(); }).then(function () { return self.load(); })
				.catch(function (e) {
					if (!silent) ui.showModal(_('Save error'), [
						E('p', {}, [_('An error occurred while saving the form:')]),
						E('p', {}, [E('em', { style: 'white-space:pre-wrap' }, [e.message])]),
						E('div', { 'class': 'right' }, [E('button', { 'class': 'btn', click: ui.hideModal }, [_('Dismiss')])])]);
					return Promise.reject(e);
				}).then(function () { return self.renderContents(); });
		},
		reset: function () { return this.renderContents(); },
		render: function () {
			var self = this;
			var access = this.readonly === true ? Promise.resolve(false) : callSessionAccess('uci', this.config, 'write');
			return access.then(function (canWrite) {
				if (self.readonly == null) self.readonly = !canWrite;
				return self.load();
			}).then(function () { return self.renderContents(); });
		},
		renderContents: function () {
			var self = this;
			var nodes = [];
			if (this.title) nodes.push(E('h2', { name: 'content' }, this.title));
			if (this.description) nodes.push(E('div', { 'class': 'cbi-map-descr' }, this.description));
			return Promise.all(this.children.map(function (s) { return s.render(); })).then(function (secs) {
				if (!self.root) {
					self.root = E('div', { id: 'cbi-' + self.config, 'class': 'cbi-map' });
					dom.bindClassInstance(self.root, self);
				}
				dom.content(self.root, nodes.concat(secs));
				return self.root;
			});
		},
		findElement: function (sel) { return this.root ? this.root.querySelector(sel) : null; },
		lookupOption: function (name, sid) {
			for (var i = 0; i < this.children.length; i++) {
				var o = this.children[i].getOption(name);
				if (o) return [o, sid];
			}
			return null;
		}
	});

	var AbstractSection = baseclass.extend({
		__init__: function (map) {
			this.map = map;
			this.config = map.config;
			this.children = [];
		},
		option: function (K, name, title, description) {
			var o = new K(this.map, this, name, title, description);
			this.children.push(o);
			return o;
		},
		getOption: function (name) {
			if (name == null) return this.children;
			for (var i = 0; i < this.children.length; i++) if (this.children[i].option == name) return this.children[i];
			return null;
		},
		getUIElement: function (sid, name) { var o = this.getOption(name); return o ? o.getUIElement(sid) : null; },
		load: function () {
			var self = this;
			return Promise.all(this.cfgsections().map(function (sid) {
				return Promise.all(self.children.map(function (o) { return Promise.resolve(o.load(sid)).then(function (v) { o.cfgvalue(sid, v); }); }));
			}));
		},
		parse: function () {
			var self = this;
			return Promise.all(this.cfgsections().map(function (sid) {
				return Promise.all(self.children.map(function (o) { return o.parse(sid); }));
			}));
		},
		renderOptions: function (sid) {
			return Promise.all(this.children.map(function (o, i) { return o.render(i, sid); }));
		}
	});

	var NamedSection = AbstractSection.extend({
		__init__: function (map, section, type, title, description) {
			this.super('__init__', [map]);
			this.section = section;
			this.sectiontype = type;
			this.title = title || '';
			this.description = description || '';
		},
		cfgsections: function () { return uci.get(this.config, this.section) ? [this.section] : []; },
		render: function () {
			var self = this, sid = this.section;
			var head = [];
			if (this.title) head.push(E('h3', {}, this.title));
			if (this.description) head.push(E('div', { 'class': 'cbi-section-descr' }, this.description));
			if (!this.cfgsections().length)
				return E('div', { 'class': 'cbi-section', id: 'cbi-' + this.config + '-' + sid },
					head.concat([E('em', {}, [_('This section contains no values yet')])]));
			return this.renderOptions(sid).then(function (opts) {
				return E('div', { 'class': 'cbi-section', id: 'cbi-' + self.config + '-' + sid },
					head.concat([E('div', { 'class': 'cbi-section-node' }, opts)]));
			});
		}
	});

	var AbstractValue = baseclass.extend({
		__init__: function (map, section, option, title, description) {
			this.map = map;
			this.section = section;
			this.option = option;
			this.title = title || '';
			this.description = description || '';
			this.default = null;
			this.rmempty = true;
			this.optional = false;
			this.datatype = null;
			this.data = {};
			this.widgets = {};
		},
		cbid: function (sid) { return 'cbid.' + this.map.config + '.' + sid + '.' + this.option; },
		load: function (sid) { return uci.get(this.uciconfig || this.map.config, this.ucisection || sid, this.ucioption || this.option); },
		cfgvalue: function (sid, val) { if (arguments.length > 1) this.data[sid] = val; return this.data[sid]; },
		textvalue: function (sid) { var v = this.cfgvalue(sid); if (v == null) v = this.default; return Array.isArray(v) ? v.join(' ') : v; },
		formvalue: function (sid) { var w = this.getUIElement(sid); return w ? w.getValue() : null; },
		getUIElement: function (sid) { return this.widgets[sid] || null; },
		isValid: function (sid) { var w = this.getUIElement(sid); return w ? w.isValid() : true; },
		validate: function () { return true; },
		write: function (sid, v) { return uci.set(this.uciconfig || this.map.config, this.ucisection || sid, this.ucioption || this.option, v); },
		remove: function (sid) { return uci.unset(this.uciconfig || this.map.config, this.ucisection || sid, this.ucioption || this.option); },
		parse: function (sid) {
			var fval = this.formvalue(sid), cval = this.cfgvalue(sid), title = this.title || this.option;
			if (!this.isValid(sid))
				return Promise.reject(new TypeError(_('Option "%s" contains an invalid input value.').format(title)));
			var empty = fval == null || fval === '' || (Array.isArray(fval) && !fval.length);
			if (!empty) {
				if (this.forcewrite || !isEqual(cval, fval)) return Promise.resolve(this.write(sid, fval));
				return Promise.resolve();
			}
			if (this.rmempty || this.optional) return Promise.resolve(cval == null ? null : this.remove(sid));
			return Promise.reject(new TypeError(_('Option "%s" must not be empty.').format(title)));
		},
		render: function (idx, sid) {
			var self = this, cval = this.cfgvalue(sid);
			return Promise.resolve(this.renderWidget(sid, idx, cval)).then(function (w) {
				var field = E('div', { 'class': 'cbi-value-field' }, [w]);
				if (self.description) field.appendChild(E('div', { 'class': 'cbi-value-description' }, self.description));
				return E('div', { 'class': 'cbi-value', id: 'cbi-' + self.map.config + '-' + sid + '-' + self.option, 'data-name': self.option }, [
					E('label', { 'class': 'cbi-value-title', 'for': self.cbid(sid) }, self.title), field]);
			});
		}
	});

	var Value = AbstractValue.extend({
		renderWidget: function (sid, idx, cval) {
			var v = cval != null ? cval : this.default;
			var w = new ui.Textfield(Array.isArray(v) ? v.join(' ') : v, {
				id: this.cbid(sid), password: this.password, optional: this.optional || this.rmempty,
				datatype: this.datatype, placeholder: this.placeholder, disabled: this.readonly || this.map.readonly,
				validate: L.bind(this.validate, this, sid)
			});
			this.widgets[sid] = w;
			return w.render();
		}
	});

	var Flag = AbstractValue.extend({
		__init__: function () {
			this.super('__init__', arguments);
			this.enabled = '1';
			this.disabled = '0';
			this.default = this.disabled;
		},
		renderWidget: function (sid, idx, cval) {
			var w = new ui.Checkbox(cval != null ? cval : this.default, {
				id: this.cbid(sid), value_enabled: this.enabled, value_disabled: this.disabled,
				disabled: this.readonly || this.map.readonly
			});
			this.widgets[sid] = w;
			return w.render();
		},
		formvalue: function (sid) { var w = this.getUIElement(sid); return w ? (w.isChecked() ? this.enabled : this.disabled) : null; },
		parse: function (sid) {
			var f = this.formvalue(sid), c = this.cfgvalue(sid);
			if (c == null) c = this.default;
			if (f === c) return Promise.resolve();
			if (this.rmempty && f === this.disabled) return Promise.resolve(this.remove(sid));
			return Promise.resolve(this.write(sid, f));
		}
	});

	var ListValue = AbstractValue.extend({
		__init__: function () { this.super('__init__', arguments); this.keylist = []; this.vallist = []; },
		value: function (k, label) { this.keylist.push(String(k)); this.vallist.push(label != null ? label : k); },
		renderWidget: function (sid, idx, cval) {
			var choices = {};
			this.keylist.forEach(function (k, i) { choices[k] = this.vallist[i]; }, this);
			var w = new ui.Select(cval != null ? cval : this.default, choices, { id: this.cbid(sid), disabled: this.readonly || this.map.readonly });
			this.widgets[sid] = w;
			return w.render();
		}
	});

	var DynamicList = AbstractValue.extend({
		renderWidget: function (sid, idx, cval) {
			var w = new ui.DynamicList(cval != null ? cval : this.default, null, {
				id: this.cbid(sid), datatype: this.datatype, placeholder: this.placeholder, disabled: this.readonly || this.map.readonly
			});
			this.widgets[sid] = w;
			return w.render();
		},
		cfgvalue: function (sid, val) {
			if (arguments.length > 1) this.data[sid] = val == null ? null : L.toArray(val);
			return this.data[sid];
		}
	});

	var DummyValue = AbstractValue.extend({
		renderWidget: function (sid, idx, cval) {
			var v = cval != null ? cval : this.default;
			return E('div', { id: this.cbid(sid) }, this.rawhtml ? (v == null ? '' : String(v)) : [v == null ? '' : String(v)]);
		},
		parse: function () { return Promise.resolve(); }
	});

	var Button = AbstractValue.extend({
		renderWidget: function (sid) {
			var title = typeof this.inputtitle == 'function' ? this.inputtitle(sid) : (this.inputtitle || this.title);
			return E('button', { 'class': 'cbi-button cbi-button-' + (this.inputstyle || 'button'), type: 'button',
				click: ui.createHandlerFn(this, function (ev) { return this.onclick ? this.onclick(ev, sid) : this.map.save(); }) }, [title]);
		},
		parse: function () { return Promise.resolve(); }
	});

	return baseclass.singleton({
		Map: Map, AbstractSection: AbstractSection, NamedSection: NamedSection, AbstractValue: AbstractValue,
		Value: Value, Flag: Flag, ListValue: ListValue, DynamicList: DynamicList, DummyValue: DummyValue, Button: Button
	});
}

function makeView() {
	var ui = mod('ui');
	return baseclass.extend({
		__init__: function () {
			var vp = document.getElementById('view'), self = this;
			dom.content(vp, E('div', { 'class': 'spinning' }, [_('Loading view…')]));
			return Promise.resolve(this.load()).then(function (data) {
				if (L.loaded) return data;
				return new Promise(function (resolve) {
					document.addEventListener('luci-loaded', function () { resolve(data); }, { once: true });
				});
			}).then(function (data) { return self.render(data); }).then(function (nodes) {
				dom.content(vp, nodes);
				dom.append(vp, self.addFooter());
			}).catch(function (e) { L.error(e); });
		},
		load: function () {},
		render: function () {},
		handleSave: function () {
			var tasks = [];
			document.getElementById('maincontent').querySelectorAll('.cbi-map').forEach(function (m) {
				tasks.push(dom.callClassMethod(m, 'save'));
			});
			return Promise.all(tasks);
		},
		handleSaveApply: function (ev, mode) {
			return this.handleSave(ev).then(function () { return ui.changes.apply(mode == '0'); });
		},
		handleReset: function () {
			var tasks = [];
			document.getElementById('maincontent').querySelectorAll('.cbi-map').forEach(function (m) {
				tasks.push(dom.callClassMethod(m, 'reset'));
			});
			return Promise.all(tasks);
		},
		addFooter: function () {
			var maps = document.querySelectorAll('#view .cbi-map'), readonly = true;
			maps.forEach(function (m) { var inst = dom.findClassInstance(m); if (inst && !inst.readonly) readonly = false; });
			if (!maps.length) readonly = !L.hasViewPermission();
			if (!this.handleSave && !this.handleSaveApply && !this.handleReset) return E([]);
			var btn = function (fn, cls, label, mode) {
				return fn ? E('button', { 'class': 'btn cbi-button ' + cls, disabled: readonly ? '' : null,
					click: ui.createHandlerFn(this, function (ev) { return fn.call(this, ev, mode); }) }, [label]) : '';
			}.bind(this);
			return E('div', { 'class': 'cbi-page-actions' }, [
				btn(this.handleSaveApply, 'cbi-button-apply important', _('Save & Apply'), '0'), ' ',
				btn(this.handleSave, 'cbi-button-save', _('Save')), ' ',
				btn(this.handleReset, 'cbi-button-reset', _('Reset'))]);
		}
	});
}

window.LuCI = LuCI;
})(window, document);
