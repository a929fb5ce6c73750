#!/usr/bin/env bash
# Regenerates po/templates/nuvol.pot from the views and the menu.d/acl.d
# titles, as LuCI's build/i18n-scan.pl does: xgettext with LuCI's keywords,
# no '#,' flags, sorted '#:' lines, a bare Content-Type header.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# JSON titles and descriptions become _() calls so that xgettext sees them.
for f in root/usr/share/luci/menu.d/*.json root/usr/share/rpcd/acl.d/*.json; do
	sed -E 's/"(title|description)": *("([^"\\]|\\.)*")/"\1": _(\2)/' "$f" >"$tmp/$(echo "$f" | tr / @).js"
done
xgettext --from-code=UTF-8 --no-wrap --language=JavaScript \
	--keyword=_:1 --keyword=_:1,2c --keyword=N_:2,3 --keyword=N_:2,3,4c \
	-o "$tmp/raw.pot" $(find htdocs -name '*.js' | sort) "$tmp"/*.js
python3 - "$tmp" <<'PY'
import re, sys
tmp = sys.argv[1]
blocks = open(tmp + '/raw.pot').read().strip().split('\n\n')[1:]
out = ['msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8"', '']
for b in blocks:
    refs, rest = set(), []
    for l in b.split('\n'):
        if l.startswith('#:'):
            for r in l[2:].split():
                refs.add(re.sub(r'^' + re.escape(tmp) + r'/(.*)\.js(:\d+)$', lambda m: m.group(1).replace('@', '/') , r))
        elif not l.startswith('#,'):
            rest.append(l)
    out += ['#: ' + r for r in sorted(refs)] + rest + ['']
open('po/templates/nuvol.pot', 'w').write('\n'.join(out))
PY
