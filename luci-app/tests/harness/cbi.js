/*
 * Test stand-in for the globals LuCI's cbi.js gives a page: _(), N_(), E(),
 * String.prototype.format and window.cbi_init. Written for nuvol's browser
 * test from the behaviour described in shared/reference/luci-client-api.md;
 * it is not LuCI's code and only covers what luci-app-nuvol needs.
 */
'use strict';

(function () {
	// Translations: the table maps msgids to strings. The test runs untranslated,
	// so lookup only normalizes whitespace as LuCI does and falls back to the msgid.
	function tr(msgid, ctx) {
		var key = String(msgid).replace(/\s+/g, ' ').trim();
		var table = window.TR || {};
		var hit = table[(ctx ? ctx + '\u0001' : '') + key];
		return hit != null ? hit : key;
	}
	window._ = function (msgid, ctx) { return tr(msgid, ctx); };
	window.N_ = function (n, singular, plural, ctx) {
		return tr(n != 1 ? plural : singular, ctx);
	};

	function escapeHTML(s) {
		return String(s).replace(/[&"'<>]/g, function (c) {
			return { '&': '&#38;', '"': '&#34;', "'": '&#39;', '<': '&#60;', '>': '&#62;' }[c];
		});
	}

	function seconds(t) {
		t = Math.floor(+t || 0);
		var d = Math.floor(t / 86400), h = Math.floor(t / 3600) % 24, m = Math.floor(t / 60) % 60, s = t % 60;
		return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
	}

	function metric(v, base, prec) {
		var units = ['', 'K', 'M', 'G', 'T', 'P'], i = 0;
		v = +v || 0;
		while (Math.abs(v) >= base && i < units.length - 1) { v /= base; i++; }
		return v.toFixed(prec) + ' ' + units[i];
	}

	// printf-style formatting: %s %d %u %f %x %X %o %b %c %h %q %t %m %%,
	// with width, '-' and '0' flags and a precision.
	String.prototype.format = function () {
		var args = arguments, ai = 0;
		return String(this).replace(/%(%|(-)?(0)?(\d+)?(?:\.(\d+))?([sduifxXobchqtm]))/g,
			function (all, pct, left, zero, width, prec, conv) {
				if (pct === '%') return '%';
				var v = args[ai++], out;
				switch (conv) {
				case 's': out = v == null ? '' : String(v); break;
				case 'd': case 'i': out = String(Math.floor(+v || 0)); break;
				case 'u': out = String(Math.max(0, Math.floor(+v || 0))); break;
				case 'f': out = (+v || 0).toFixed(prec != null ? +prec : 6); break;
				case 'x': out = (Math.floor(+v || 0) >>> 0).toString(16); break;
				case 'X': out = (Math.floor(+v || 0) >>> 0).toString(16).toUpperCase(); break;
				case 'o': out = (Math.floor(+v || 0) >>> 0).toString(8); break;
				case 'b': out = (Math.floor(+v || 0) >>> 0).toString(2); break;
				case 'c': out = String.fromCharCode(+v || 0); break;
				case 'h': out = (v == null || typeof v == 'object' || typeof v == 'function') ? '' : escapeHTML(v); break;
				case 'q': out = v == null ? '' : String(v).replace(/["']/g, function (c) { return c == '"' ? '&#34;' : '&#39;'; }); break;
				case 't': out = seconds(v); break;
				case 'm': // width is the base (1000 or 1024) for %m
					out = metric(v, width ? +width : 1000, prec != null ? +prec : 2);
					width = null; break;
				}
				if (width && out.length < +width)
					out = left ? out + ' '.repeat(width - out.length)
						: (zero && conv != 's' ? '0' : ' ').repeat(width - out.length) + out;
				return out;
			});
	};
	String.format = function (fmt) {
		return String.prototype.format.apply(fmt, Array.prototype.slice.call(arguments, 1));
	};

	// E() is dom.create once luci.js has loaded.
	window.E = function () { return window.L.dom.create.apply(window.L.dom, arguments); };

	// luci.js swaps this for a no-op and calls the saved one when the page is up.
	window.cbi_init = function () { document.body.classList.add('cbi-ready'); };
})();
