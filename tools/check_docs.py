#!/usr/bin/env python3
"""Check that the documentation names only API that exists.

    tools/check_docs.py SOURCE_ROOT BUILD_INCLUDE_DIR

Every corio_* / CORIO_* identifier in README.md and docs/**/*.md must be
declared in a public header (include/corio.h, include/corio/*.h, and the
generated version.h), or be one of the other names a user meets, each
found in the source rather than listed here:
  - an environment variable the code reads (getenv("CORIO_...") anywhere
    under runtime/, executors/, tests/, examples/);
  - a build configuration macro (conf.set('CORIO_...') in meson.build);
  - a metric name the Prometheus export or an example program writes
    (string literals of runtime/metrics.c and examples/; a doc may name a
    family, e.g. corio_pool_run_seconds);
  - a symbol version node of runtime/corio.map (CORIO_0.1).
A prefix written as such ("CORIO_E*", "corio_executor_*", "corio_pool_")
is fine when some known name starts with it. Internal names (corio__*,
CORIO__*) may be named: the pages on internals (docs/context-switch.md,
docs/runtime.md...) talk about them, and the double underscore marks them.
Prints each unknown name with the files and lines that use it; exits 1 if
there is any.
"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corio_headers  # noqa: E402

NAME = re.compile(r'\b(?:corio|CORIO)_[A-Za-z0-9]\w*\b')


def main():
    root, build_inc = sys.argv[1], sys.argv[2]
    headers = corio_headers.public_headers([os.path.join(root, 'include'), build_inc])
    known = set(corio_headers.declared_names(headers))
    literals = set()
    for sub in ('runtime', 'executors', 'tests', 'examples'):
        for path in glob.glob(os.path.join(root, sub, '**', '*.[ch]'), recursive=True):
            src = open(path, encoding='utf-8', errors='replace').read()
            known.update(re.findall(r'getenv\("((?:corio|CORIO)_\w+)"\)', src))
            if os.path.basename(path) == 'metrics.c' or sub == 'examples':
                literals.update(re.findall(r'"((?:corio)_\w+)', src))
    meson = open(os.path.join(root, 'meson.build'), encoding='utf-8').read()
    known.update(re.findall(r"conf\.set\w*\('(CORIO_\w+)'", meson))
    corio_map = open(os.path.join(root, 'runtime', 'corio.map'), encoding='utf-8').read()
    nodes = set(re.findall(r'\b(CORIO_\d+)\.\d+', corio_map))

    def is_known(name, rest):
        if name in known or name in nodes:
            return True
        if any(lit.startswith(name) for lit in literals):
            return True
        if name.endswith('_') or rest.startswith('*'):
            return any(k.startswith(name) for k in known)
        return False
    pages = [os.path.join(root, 'README.md')]
    pages += sorted(glob.glob(os.path.join(root, 'docs', '**', '*.md'), recursive=True))
    unknown = {}
    for page in pages:
        if not os.path.exists(page):
            continue
        for n, line in enumerate(open(page, encoding='utf-8'), 1):
            for m in NAME.finditer(line):
                name = m.group(0)
                if not is_known(name, line[m.end():]):
                    unknown.setdefault(name, []).append('%s:%d' % (os.path.relpath(page, root), n))
    for name in sorted(unknown):
        where = unknown[name]
        more = ' (+%d more)' % (len(where) - 3) if len(where) > 3 else ''
        print('%s: not in any public header; used at %s%s' % (name, ', '.join(where[:3]), more))
    if unknown:
        print('%d unknown name(s)' % len(unknown))
        return 1
    print('docs name only declared API (%d pages checked)' % len(pages))
    return 0


if __name__ == '__main__':
    sys.exit(main())
